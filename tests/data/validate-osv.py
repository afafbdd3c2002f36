"""Validates OSV records against tests/data/osv-schema.json with format checking.

Usage: python3 validate-osv.py SCHEMA RECORD...
Exit 0 when every record validates; 1 with the validator's messages otherwise;
3 when format checking cannot run (a checker for a format the schema uses is missing),
so a missing Python package never turns into a silent pass.
"""
import json
import sys

import jsonschema

schema = json.load(open(sys.argv[1]))
cls = jsonschema.validators.validator_for(schema)
checker = cls.FORMAT_CHECKER
# The formats the OSV schema uses; jsonschema checks a format only when the package
# behind it is installed (rfc3339-validator for date-time, rfc3987 for uri).
missing = [f for f in ("date-time", "uri") if f not in checker.checkers]
if missing:
    print("no format checker for: " + ", ".join(missing)
          + " (python3 -m pip install rfc3339-validator rfc3987)", file=sys.stderr)
    sys.exit(3)
cls.check_schema(schema)
validator = cls(schema, format_checker=checker)
failed = False
for path in sys.argv[2:]:
    for error in sorted(validator.iter_errors(json.load(open(path))), key=str):
        failed = True
        where = "/".join(str(p) for p in error.absolute_path)
        print(f"{path}: {where}: {error.message}", file=sys.stderr)
sys.exit(1 if failed else 0)
