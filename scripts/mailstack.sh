#!/usr/bin/env bash
# mailstack.sh — a throwaway, self-contained Postfix + Dovecot instance on
# loopback, for secdesk's integration tests and demo.
#
#   mailstack.sh install      install the Debian packages (idempotent, quiet)
#   mailstack.sh start DIR    build an instance under DIR, start it, write DIR/env
#   mailstack.sh stop DIR     stop what `start DIR` started, then remove DIR
#                             (MAILSTACK_KEEP=1 keeps DIR, e.g. to read its logs)
#   mailstack.sh flush DIR    ask Postfix to retry deferred mail now
#
# Mail flow: client --SMTP--> Postfix (127.0.0.1:SMTP_PORT, STARTTLS offered;
# 127.0.0.1:SMTPS_PORT, implicit TLS) --LMTP over a unix socket--> Dovecot,
# which stores every recipient (any domain, any name) in DIR/mail/<address>/Maildir.
# IMAP on 127.0.0.1:IMAP_PORT (STARTTLS offered) and IMAPS_PORT (implicit TLS).
# Every user name is valid and its password is "secret".
#
# MAILSTACK_SIEVE=1 at `start` turns on Pigeonhole Sieve for LMTP delivery (each
# user's DIR/mail/<address>/.dovecot.sieve, e.g. a `vacation` autoresponder; replies
# leave through this instance's Postfix). Off by default; remembered across restarts.
# MAILSTACK_IDLE_NOTIFY=<interval> at `start` has Dovecot tell an idling client it is
# still there (`* OK Still here`) that often (imap_idle_notify_interval; Dovecot's
# default is every 2 minutes); remembered across restarts.
# MAILSTACK_FETCH_FAILURE=<mode> at `start` sets Dovecot's imap_fetch_failure (what a
# FETCH does with a message file it cannot read; `no-after` hands over the rest and
# answers NO); remembered across restarts.
#
# Ports are picked at random among free loopback ports unless SMTP_PORT,
# SUBMISSIONS_PORT (alias SMTPS_PORT), IMAP_PORT or IMAPS_PORT are set.
set -euo pipefail
# The daemons and postqueue live in /usr/sbin, which a CI PATH may lack.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH

readonly PASSWORD=secret
readonly POSTFIX_MASTER=/usr/lib/postfix/sbin/master
# How long `start` waits for both servers, and `stop` for their processes.
readonly START_TIMEOUT_S=20
readonly STOP_TIMEOUT_S=15

die() {
    echo "mailstack: $*" >&2
    exit 1
}

usage() {
    echo "usage: $0 install | start DIR | stop DIR | flush DIR" >&2
    exit 2
}

# ---------------------------------------------------------------------------
# install
# ---------------------------------------------------------------------------

cmd_install() {
    if command -v dovecot >/dev/null && [[ -x $POSTFIX_MASTER ]] &&
        [[ -x /usr/lib/dovecot/lmtp ]] && command -v openssl >/dev/null &&
        command -v spamassassin >/dev/null &&
        [[ -e /usr/lib/dovecot/modules/lib90_sieve_plugin.so ]]; then
        return 0
    fi
    [[ $(id -u) -eq 0 ]] || die "install needs root (apt-get)"
    local log
    log=$(mktemp /tmp/mailstack-install.XXXXXX)
    # "No configuration" keeps the postinst from writing /etc/postfix/main.cf
    # and from asking questions; we never use the system instance anyway.
    echo "postfix postfix/main_mailer_type select No configuration" |
        debconf-set-selections
    if ! {
        apt-get update -q &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
                --no-install-recommends \
                postfix dovecot-imapd dovecot-lmtpd dovecot-sieve openssl spamassassin
    } </dev/null >"$log" 2>&1; then
        cat "$log" >&2
        die "package installation failed (log above)"
    fi
    rm -f "$log"
}

# ---------------------------------------------------------------------------
# start
# ---------------------------------------------------------------------------

# Print the TCP ports that any socket on this machine uses (any state).
used_ports() {
    local f _ addr
    for f in /proc/net/tcp /proc/net/tcp6; do
        [[ -r $f ]] || continue
        # Second column: local address as HEXADDR:HEXPORT.
        while read -r _ addr _; do
            if [[ $addr == *:* ]]; then echo $((16#${addr##*:})); fi
        done < <(tail -n +2 "$f")
    done
}

# Pick N distinct free ports below the kernel's ephemeral range, so that no
# outgoing connection can be sitting on them.
pick_ports() {
    local n=$1 low=10240 high=32767 used picked=() p
    used=" $(used_ports | tr '\n' ' ') "
    while ((${#picked[@]} < n)); do
        p=$((low + (RANDOM * 32768 + RANDOM) % (high - low)))
        [[ $used == *" $p "* ]] && continue
        [[ " ${picked[*]} " == *" $p "* ]] && continue
        picked+=("$p")
    done
    echo "${picked[@]}"
}

make_tls() {
    local tls=$1
    mkdir -p "$tls"
    # EC P-256 keys: generated in milliseconds, unlike RSA.
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
        -out "$tls/ca.key" 2>/dev/null
    openssl req -x509 -new -sha256 -key "$tls/ca.key" -days 3650 \
        -subj "/CN=secdesk mailstack test CA" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -out "$tls/ca.pem" 2>/dev/null
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
        -out "$tls/server.key" 2>/dev/null
    cat >"$tls/server.ext" <<-'EOF'
	basicConstraints = critical,CA:FALSE
	keyUsage = critical,digitalSignature
	extendedKeyUsage = serverAuth
	subjectAltName = DNS:localhost,IP:127.0.0.1
	EOF
    openssl req -new -sha256 -key "$tls/server.key" -subj "/CN=localhost" 2>/dev/null |
        openssl x509 -req -sha256 -days 825 -CA "$tls/ca.pem" -CAkey "$tls/ca.key" \
            -set_serial "0x$(openssl rand -hex 8)" -extfile "$tls/server.ext" \
            -out "$tls/server.pem" 2>/dev/null
    chmod 0600 "$tls/ca.key" "$tls/server.key"
    chmod 0644 "$tls/ca.pem" "$tls/server.pem"
}

# Queue layout with the owners and modes of Debian's postfix-files.
make_postfix_dirs() {
    local spool=$1 d
    mkdir -p "$spool"
    chown root:root "$spool"
    chmod 0755 "$spool"
    for d in active bounce corrupt defer deferred flush hold incoming private saved trace; do
        install -d -o postfix -g root -m 0700 "$spool/$d"
    done
    install -d -o postfix -g postdrop -m 0730 "$spool/maildrop"
    install -d -o postfix -g postdrop -m 0710 "$spool/public"
    install -d -o root -g root -m 0755 "$spool/pid"
}

write_postfix_conf() {
    local dir=$1
    local lmtp="lmtp:unix:$dir/run/lmtp"
    cat >"$dir/postfix/main.cf" <<EOF
# Generated by mailstack.sh — a test instance, not a system mail server.
compatibility_level = 3.6
queue_directory = $dir/spool
data_directory = $dir/pfdata
mail_owner = postfix
setgid_group = postdrop

# No syslog here: postlogd (see master.cf) writes this file.
maillog_file = $dir/log/postfix.log
maillog_file_prefixes = $dir/log

myhostname = localhost
mydomain = localdomain
myorigin = \$myhostname
append_dot_mydomain = no
biff = no
inet_interfaces = 127.0.0.1
inet_protocols = ipv4

# Nothing is local: every recipient, in every domain, goes to Dovecot.
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
relay_domains =
default_transport = $lmtp
relay_transport = $lmtp
local_transport = $lmtp
virtual_transport = $lmtp
recipient_delimiter = +
# Dovecot 2.3's LMTP cannot take SMTPUTF8 mail: do not offer it either.
smtputf8_enable = no

# Loopback may relay anywhere; so may an authenticated client.
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = $dir/run/auth-postfix
smtpd_tls_auth_only = yes

smtpd_tls_security_level = may
smtpd_tls_cert_file = $dir/tls/server.pem
smtpd_tls_key_file = $dir/tls/server.key
smtpd_tls_loglevel = 1

# Generous limits, no artificial slowness for tests.
message_size_limit = 52428800
mailbox_size_limit = 0
smtpd_error_sleep_time = 0
smtpd_peername_lookup = no
in_flow_delay = 0
# Mail deferred while Dovecot was down is retried soon (and \`flush\` forces it).
queue_run_delay = 5s
minimal_backoff_time = 5s
maximal_backoff_time = 30s
EOF

    # Our own master.cf: Debian's stock one chroots most services into the
    # system queue directory, which would not contain our sockets and files.
    cat >"$dir/postfix/master.cf" <<EOF
# service         type       private unpriv chroot wakeup maxproc command
127.0.0.1:$SMTP_PORT inet    n       -       n       -       -       smtpd
127.0.0.1:$SMTPS_PORT inet   n       -       n       -       -       smtpd
  -o smtpd_tls_wrappermode=yes
  -o smtpd_tls_security_level=encrypt
pickup            unix       n       -       n      60      1       pickup
cleanup           unix       n       -       n       -      0       cleanup
qmgr              unix       n       -       n      300     1       qmgr
tlsmgr            unix       -       -       n      1000?   1       tlsmgr
rewrite           unix       -       -       n       -      -       trivial-rewrite
bounce            unix       -       -       n       -      0       bounce
defer             unix       -       -       n       -      0       bounce
trace             unix       -       -       n       -      0       bounce
verify            unix       -       -       n       -      1       verify
flush             unix       n       -       n      1000?   0       flush
proxymap          unix       -       -       n       -      -       proxymap
proxywrite        unix       -       -       n       -      1       proxymap
smtp              unix       -       -       n       -      -       smtp
relay             unix       -       -       n       -      -       smtp
showq             unix       n       -       n       -      -       showq
error             unix       -       -       n       -      -       error
retry             unix       -       -       n       -      -       error
discard           unix       -       -       n       -      -       discard
lmtp              unix       -       -       n       -      -       lmtp
anvil             unix       -       -       n       -      1       anvil
scache            unix       -       -       n       -      1       scache
postlog           unix-dgram n       -       n       -      1       postlogd
EOF
    # Postfix ignores (waits on) configuration files younger than a second.
    touch -d '-1 min' "$dir/postfix/main.cf" "$dir/postfix/master.cf"
}

write_dovecot_conf() {
    local dir=$1
    cat >"$dir/dovecot.conf" <<EOF
# Generated by mailstack.sh — a test instance, not a system mail server.
instance_name = mailstack-$(basename "$dir")
hostname = localhost
base_dir = $dir/run
state_dir = $dir/dstate
log_path = $dir/log/dovecot.log
protocols = imap lmtp
listen = 127.0.0.1

ssl = yes
ssl_cert = <$dir/tls/server.pem
ssl_key = <$dir/tls/server.key

# Any user name exists and its password is "$PASSWORD".
disable_plaintext_auth = no
auth_mechanisms = plain login
passdb {
  driver = static
  args = password=$PASSWORD
}
userdb {
  driver = static
  args = uid=mail gid=mail home=$dir/mail/%u allow_all_users=yes
}
# Dovecot refuses uid 0; "mail" is uid 8 on Debian.
first_valid_uid = 8
mail_location = maildir:~/Maildir
mail_fsync = never
mail_max_userip_connections = 100

namespace inbox {
  inbox = yes
  separator = /
  mailbox Sent {
    special_use = \Sent
    auto = subscribe
  }
  mailbox Trash {
    special_use = \Trash
    auto = subscribe
  }
  mailbox Junk {
    special_use = \Junk
    auto = subscribe
  }
  mailbox Archive {
    special_use = \Archive
    auto = subscribe
  }
}

# A wrong password must not slow down the logins that follow: no failure
# delay (a failed login still takes up to 0.5 s: the auth process flushes
# failures on a fixed 500 ms timer), and no anvil per-IP auth penalty (2.3
# skips it when its anvil socket is absent, see "service anvil" below;
# login_trusted_networks does NOT skip it in 2.3.19).
auth_failure_delay = 0

# security+sec-2026-0007@x is delivered to security@x's INBOX.
recipient_delimiter = +
lmtp_save_to_detail_mailbox = no
lmtp_rcpt_check_quota = no

service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $IMAP_PORT
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $IMAPS_PORT
    ssl = yes
  }
}
service lmtp {
  unix_listener lmtp {
    mode = 0666
  }
}
service anvil {
  # mode 0: the listener is not created, which disables the auth penalty.
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service auth {
  # Postfix's SMTP AUTH asks Dovecot.
  unix_listener auth-postfix {
    mode = 0660
    user = postfix
    group = postfix
  }
}
EOF
    if [[ -e $dir/idle-notify ]]; then
        printf '\n# MAILSTACK_IDLE_NOTIFY: how often an idling client hears "* OK Still here".\nimap_idle_notify_interval = %s\n' \
            "$(cat "$dir/idle-notify")" >>"$dir/dovecot.conf"
    fi
    if [[ -e $dir/fetch-failure ]]; then
        printf '\n# MAILSTACK_FETCH_FAILURE: a message file that cannot be read.\nimap_fetch_failure = %s\n' \
            "$(cat "$dir/fetch-failure")" >>"$dir/dovecot.conf"
    fi
    if [[ -e $dir/sieve-enabled ]]; then
        cat >>"$dir/dovecot.conf" <<EOF

# MAILSTACK_SIEVE=1: Sieve at delivery, one script per user, replies (vacation)
# submitted to this instance's Postfix. Vacation may repeat after a second, so a
# test sees every answer a responder would ever give.
protocol lmtp {
  mail_plugins = \$mail_plugins sieve
}
submission_host = 127.0.0.1:$SMTP_PORT
plugin {
  sieve = ~/.dovecot.sieve
  sieve_extensions = +vacation-seconds
  sieve_vacation_min_period = 0
}
EOF
    fi
}

# True once something accepts TCP connections on 127.0.0.1:$1 and greets.
port_greets() {
    local port=$1 line=
    {
        exec 3<>"/dev/tcp/127.0.0.1/$port"
    } 2>/dev/null || return 1
    IFS= read -r -t 2 line <&3 || true
    exec 3<&- 3>&-
    [[ -n $line ]]
}

# How many sockets listen on TCP port $1 (any address).
listeners_on() {
    local hex n=0 f _ addr _r state
    printf -v hex '%04X' "$1"
    for f in /proc/net/tcp /proc/net/tcp6; do
        [[ -r $f ]] || continue
        while read -r _ addr _r state _; do
            if [[ $addr == *":$hex" && $state == 0A ]]; then n=$((n + 1)); fi
        done < <(tail -n +2 "$f")
    done
    echo "$n"
}

# True if process $1 exists and is not a zombie (see group_members).
pid_alive() {
    [[ ${1:-} =~ ^[0-9]+$ ]] || return 1
    pgid_of "$1"
    [[ -n $PSTATE && $PSTATE != Z ]]
}

# One attempt to start the instance with the ports in SMTP_PORT & co.
# Returns 1 if a server did not come up (e.g. a port was taken meanwhile).
start_once() {
    local dir=$1

    write_postfix_conf "$dir"
    write_dovecot_conf "$dir"

    # Both masters keep the stdio they were started with: a caller that
    # captures our output would hang until they exit. Give them files.
    if ! dovecot -c "$dir/dovecot.conf" </dev/null \
        >>"$dir/log/dovecot.out" 2>&1; then
        return 1
    fi
    # -w: a foreground stub waits until the real (background) master is up.
    if ! "$POSTFIX_MASTER" -c "$dir/postfix" -w </dev/null \
        >>"$dir/log/postfix.out" 2>&1; then
        stop_instance "$dir" kill
        return 1
    fi

    local deadline=$((SECONDS + START_TIMEOUT_S)) dpid='' ppid=''
    while :; do
        # The daemonized masters may write their PID files a moment late.
        [[ -n $dpid ]] || dpid=$(cat "$dir/run/master.pid" 2>/dev/null || true)
        [[ -n $ppid ]] || ppid=$(sed -n '1s/ //gp' "$dir/spool/pid/master.pid" 2>/dev/null || true)
        if [[ -n $dpid && -n $ppid ]] &&
            port_greets "$SMTP_PORT" && port_greets "$IMAP_PORT"; then
            break
        fi
        if { [[ -n $dpid ]] && ! pid_alive "$dpid"; } ||
            { [[ -n $ppid ]] && ! pid_alive "$ppid"; } || ((SECONDS >= deadline)); then
            stop_instance "$dir" kill
            return 1
        fi
        sleep 0.02
    done
    # Postfix sets SO_REUSEPORT: a second instance on the same port starts
    # fine and the kernel then splits connections between the two. So a port
    # with another listener besides ours means a collision (with a parallel
    # start that picked the same port): this start backs off.
    local port
    for port in "$SMTP_PORT" "$SMTPS_PORT" "$IMAP_PORT" "$IMAPS_PORT"; do
        if (($(listeners_on "$port") != 1)); then
            echo "mailstack: port $port is shared with another server" >>"$dir/log/start.log"
            stop_instance "$dir" kill
            return 1
        fi
    done
    DOVECOT_PID=$dpid
    POSTFIX_PID=$ppid
}

cmd_start() {
    local dir=${1:?} restart=0
    if [[ -f $dir/env ]]; then
        # DIR holds an instance stopped with MAILSTACK_KEEP=1: start it again
        # on the same ports, with its mail, queue and certificates.
        restart=1
    elif [[ -e $dir && -n $(ls -A "$dir" 2>/dev/null) ]]; then
        die "$dir exists, is not empty and holds no stopped instance"
    fi
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd -P)
    # Dovecot's and Postfix's sockets live under DIR: sun_path is 108 bytes.
    ((${#dir} <= 60)) || die "DIR too long for unix sockets (keep it under 60 bytes): $dir"

    # The daemons' users (dovecot, dovenull, postfix, mail) must traverse
    # every parent of DIR, so a DIR under a 0700 directory cannot work.
    local p=$dir
    chmod 0755 "$dir"
    while p=$(dirname "$p") && [[ $p != / ]]; do
        if [[ $(stat -c %A "$p") != d????????[xt] ]]; then
            die "$p is not world-searchable (daemons must reach $dir)"
        fi
    done

    if ((restart)); then
        local pid
        while read -r pid; do
            if pid_alive "$pid" && is_ours "$pid" "$dir"; then
                die "the instance in $dir is running (pid $pid)"
            fi
        done < <(sed -n 's/^\(DOVECOT\|POSTFIX\)_PID=//p' "$dir/env")
        # Same ports as before, unless the caller overrides them.
        : "${SMTP_PORT:=$(sed -n 's/^SMTP_PORT=//p' "$dir/env")}"
        : "${SMTPS_PORT:=$(sed -n 's/^SMTPS_PORT=//p' "$dir/env")}"
        : "${IMAP_PORT:=$(sed -n 's/^IMAP_PORT=//p' "$dir/env")}"
        : "${IMAPS_PORT:=$(sed -n 's/^IMAPS_PORT=//p' "$dir/env")}"
    else
        mkdir -p "$dir/postfix" "$dir/log" "$dir/dstate" "$dir/pfdata"
        chown postfix:postfix "$dir/pfdata"
        chmod 0700 "$dir/pfdata"
        install -d -o mail -g mail -m 0755 "$dir/mail"
        make_tls "$dir/tls"
        make_postfix_dirs "$dir/spool"
        if [[ ${MAILSTACK_SIEVE:-0} == 1 ]]; then touch "$dir/sieve-enabled"; fi
        if [[ -n ${MAILSTACK_IDLE_NOTIFY:-} ]]; then
            printf '%s\n' "$MAILSTACK_IDLE_NOTIFY" >"$dir/idle-notify"
        fi
        if [[ -n ${MAILSTACK_FETCH_FAILURE:-} ]]; then
            printf '%s\n' "$MAILSTACK_FETCH_FAILURE" >"$dir/fetch-failure"
        fi
    fi

    local fixed=0 attempt ports
    [[ -n ${SMTPS_PORT:-} && -z ${SUBMISSIONS_PORT:-} ]] && SUBMISSIONS_PORT=$SMTPS_PORT
    if [[ -n ${SMTP_PORT:-}${SUBMISSIONS_PORT:-}${IMAP_PORT:-}${IMAPS_PORT:-} ]]; then
        fixed=1
    fi
    local given_smtp=${SMTP_PORT:-} given_smtps=${SUBMISSIONS_PORT:-}
    local given_imap=${IMAP_PORT:-} given_imaps=${IMAPS_PORT:-}
    for attempt in 1 2 3; do
        read -r -a ports <<<"$(pick_ports 4)"
        SMTP_PORT=${given_smtp:-${ports[0]}}
        SMTPS_PORT=${given_smtps:-${ports[1]}}
        IMAP_PORT=${given_imap:-${ports[2]}}
        IMAPS_PORT=${given_imaps:-${ports[3]}}
        if start_once "$dir"; then
            cat >"$dir/env" <<EOF
MAIL_HOST=127.0.0.1
SMTP_PORT=$SMTP_PORT
SMTPS_PORT=$SMTPS_PORT
IMAP_PORT=$IMAP_PORT
IMAPS_PORT=$IMAPS_PORT
CA_FILE=$dir/tls/ca.pem
MAIL_PASSWORD=$PASSWORD
DOVECOT_PID=$DOVECOT_PID
POSTFIX_PID=$POSTFIX_PID
DOVECOT_LOG=$dir/log/dovecot.log
POSTFIX_LOG=$dir/log/postfix.log
EOF
            return 0
        fi
        # Chosen ports may have been taken by a parallel start: retry with
        # new ones, unless the caller fixed them.
        ((fixed)) && break
        echo "mailstack: start attempt $attempt failed, retrying with other ports" \
            >>"$dir/log/start.log"
    done
    echo "mailstack: could not start the mail stack in $dir; last log lines:" >&2
    tail -n 20 "$dir"/log/*.out "$dir"/log/*.log >&2 2>/dev/null || true
    exit 1
}

# ---------------------------------------------------------------------------
# stop
# ---------------------------------------------------------------------------

# State and process group of PID $1 (fields 3 and 5 of /proc/PID/stat), in
# $PSTATE and $PGID; both empty if there is no such process. Fork-free,
# because group_members calls it for every process on the machine.
pgid_of() {
    local line rest
    PSTATE='' PGID=''
    { IFS= read -r line <"/proc/$1/stat"; } 2>/dev/null || return 0
    # Fields after "(comm)": state ppid pgrp ...; comm may contain spaces.
    rest=${line##*) }
    read -r PSTATE _ PGID _ <<<"$rest"
}

# PIDs of the live processes in process group $1. Zombies do not count: here
# PID 1 reaps orphans only every few seconds, and a zombie is already dead.
group_members() {
    local d pid
    for d in /proc/[0-9]*; do
        pid=${d#/proc/}
        pgid_of "$pid"
        [[ $PGID == "$1" && $PSTATE != Z ]] && echo "$pid"
    done
    return 0
}

# True if PID $1 runs with DIR ($2) on its command line, i.e. it is ours.
is_ours() {
    local cmdline
    cmdline=$(tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline") || return 1
    [[ $cmdline == *" $2/"* ]]
}

# Stop the masters recorded in DIR (PID files, DIR/env), then whatever is left
# in their process groups (both masters lead their own group, and every
# daemon they spawn stays in it). Never looks processes up by name.
#   stop_instance DIR graceful   SIGTERM, as a normal shutdown (the data is kept)
#   stop_instance DIR kill       SIGKILL at once (the data is about to be deleted)
stop_instance() {
    local dir=$1 mode=$2 masters=() pgids=() pid
    for pid in \
        "$(sed -n 's/^DOVECOT_PID=//p' "$dir/env" 2>/dev/null)" \
        "$(sed -n 's/^POSTFIX_PID=//p' "$dir/env" 2>/dev/null)" \
        "$(cat "$dir/run/master.pid" 2>/dev/null)" \
        "$(sed -n '1s/ //gp' "$dir/spool/pid/master.pid" 2>/dev/null)"; do
        [[ $pid =~ ^[0-9]+$ ]] || continue
        [[ " ${masters[*]} " == *" $pid "* ]] && continue
        # A stale PID file must not make us signal somebody else's process.
        is_ours "$pid" "$dir" || continue
        masters+=("$pid")
        pgid_of "$pid"
        [[ $PGID == "$pid" ]] && pgids+=("$PGID")
    done
    ((${#masters[@]})) || return 0

    local deadline=$((SECONDS + STOP_TIMEOUT_S)) left
    if [[ $mode == kill ]]; then
        for pid in "${pgids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
        kill -KILL "${masters[@]}" 2>/dev/null || true
    else
        # Postfix's master takes ~1 s to stop, Dovecot's a little less.
        kill -TERM "${masters[@]}" 2>/dev/null || true
        for pid in "${masters[@]}"; do
            while pid_alive "$pid" && ((SECONDS < deadline)); do sleep 0.02; done
        done
    fi
    # Leftovers (e.g. IMAP sessions that would idle on for a while): TERM,
    # then KILL when the deadline passes.
    local sig=TERM
    while :; do
        left=$(for pid in "${pgids[@]}"; do group_members "$pid"; done)
        if [[ -z $left ]]; then
            # A killed master leaves its PID file, and until PID 1 reaps it,
            # its zombie makes Dovecot believe it still runs.
            rm -f "$dir/run/master.pid" "$dir/spool/pid/master.pid"
            return 0
        fi
        if ((SECONDS >= deadline)); then
            [[ $sig == KILL ]] && die "processes survive SIGKILL: $left"
            sig=KILL
            echo "mailstack: killing leftover processes:" "${left//$'\n'/ }" >&2
        fi
        # shellcheck disable=SC2086 # word splitting wanted: a list of PIDs
        kill -"$sig" $left 2>/dev/null || true
        sleep 0.05
    done
}

cmd_stop() {
    local dir=${1:?}
    [[ -d $dir ]] || return 0
    dir=$(cd "$dir" && pwd -P)
    if [[ ${MAILSTACK_KEEP:-0} == 1 ]]; then
        stop_instance "$dir" graceful
    else
        stop_instance "$dir" kill
        rm -rf -- "$dir"
    fi
}

# ---------------------------------------------------------------------------
# flush
# ---------------------------------------------------------------------------

cmd_flush() {
    local dir=${1:?}
    dir=$(cd "$dir" && pwd -P)
    postqueue -c "$dir/postfix" -f
}

case ${1:-}:$# in
install:1) cmd_install ;;
start:2) cmd_start "$2" ;;
stop:2) cmd_stop "$2" ;;
flush:2) cmd_flush "$2" ;;
*) usage ;;
esac
