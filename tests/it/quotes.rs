//! Quote cutting across clients and languages: a `#reply` whose body goes on with a
//! quoted team mail must send the reporter only the member's own words.
//!
//! Two sources of cases, both checked by [`check`]:
//! - a table-driven generator: each client's reply layout (Gmail, Outlook desktop and
//!   web, Apple Mail, Thunderbird, K-9/FairEmail, Yahoo, Proton; text and, where the
//!   client sends it, HTML) rendered in twelve languages, from the strings each client
//!   writes in that language. A layout is a function, a language a row: 12 × 21 cases.
//! - real-looking whole mails in `tests/fixtures/replies/layouts/*.eml`, each with its
//!   expected cut in the `.expected` file beside it, read through `mail::parse` as the
//!   desk reads them (multipart/alternative, encodings, HTML-only).
//!
//! Every case quotes a secret, a `#close` and a team member's address below the reply:
//! none of them may survive.

use secdesk::commands::{Command, parse_body};
use secdesk::mail::html::html_to_text;
use secdesk::mail::{self, Parsed};
use std::path::Path;

/// Words that exist only in the quoted part of every case.
const SECRET: &str = "INTERNAL-ONLY patch 0xdeadbeef";
/// Team addresses (and the desk's): none may reach a reporter.
const TEAM_ADDRESSES: [&str; 3] = [
    "alice@example.org",
    "bob@example.org",
    "security@example.org",
];

/// One language: the member's reply, and what each client writes there.
struct Lang {
    code: &'static str,
    /// The member's own words: two paragraphs.
    reply: [&'static str; 2],
    /// Attribution lines; `{A}` is "Name <address>", `{N}` the name alone.
    gmail: &'static str,
    apple: &'static str,
    thunderbird: &'static str,
    k9: &'static str,
    yahoo: &'static str,
    proton: &'static str,
    undated: &'static str,
    /// Outlook's header names: from, sent, to, subject.
    outlook: [&'static str; 4],
    outlook_date: &'static str,
    /// The text of `-----Original Message-----`.
    original: &'static str,
    /// Gmail's `---------- Forwarded message ---------` text, and Apple Mail's
    /// `Begin forwarded message:` line.
    gmail_forward: &'static str,
    apple_forward: &'static str,
}

const LANGS: &[Lang] = &[
    Lang {
        code: "en",
        reply: [
            "Thanks for the report, we reproduced it.",
            "A fix is being prepared.",
        ],
        gmail: "On Mon, 23 Nov 2026 at 10:00, {A} wrote:",
        apple: "On 23 Nov 2026, at 10:00, {A} wrote:",
        thunderbird: "On 23/11/2026 10:00, {N} wrote:",
        k9: "On November 23, 2026 10:00:00 AM GMT+01:00, {A} wrote:",
        yahoo: "On Monday, November 23, 2026 at 10:00:00 AM GMT+1, {A} wrote:",
        proton: "On Monday, November 23rd, 2026 at 10:00 AM, {A} wrote:",
        undated: "{A} wrote:",
        outlook: ["From", "Sent", "To", "Subject"],
        outlook_date: "Monday, November 23, 2026 10:00 AM",
        original: "Original Message",
        gmail_forward: "Forwarded message",
        apple_forward: "Begin forwarded message:",
    },
    Lang {
        code: "de",
        reply: [
            "Danke für den Bericht, wir konnten es nachvollziehen.",
            "Eine Korrektur ist in Arbeit.",
        ],
        gmail: "Am Mo., 23. Nov. 2026 um 10:00 Uhr schrieb {A}:",
        apple: "Am 23.11.2026 um 10:00 schrieb {A}:",
        thunderbird: "Am 23.11.26 um 10:00 schrieb {N}:",
        k9: "Am 23. November 2026 10:00:00 MEZ schrieb {A}:",
        yahoo: "Am Montag, 23. November 2026 um 10:00:00 MEZ hat {A} Folgendes geschrieben:",
        proton: "Am Montag, 23. November 2026 um 10:00 schrieb {A}:",
        undated: "{A} schrieb:",
        outlook: ["Von", "Gesendet", "An", "Betreff"],
        outlook_date: "Montag, 23. November 2026 10:00",
        original: "Ursprüngliche Nachricht",
        gmail_forward: "Weitergeleitete Nachricht",
        apple_forward: "Anfang der weitergeleiteten Nachricht:",
    },
    Lang {
        code: "fr",
        reply: [
            "Merci pour le signalement, nous l'avons reproduit.",
            "Un correctif est en préparation.",
        ],
        gmail: "Le lun. 23 nov. 2026 à 10:00, {A} a écrit :",
        apple: "Le 23 nov. 2026 à 10:00, {A} a écrit :",
        thunderbird: "Le 23/11/2026 à 10:00, {N} a écrit :",
        k9: "Le 23 novembre 2026 10:00:00 GMT+01:00, {A} a écrit :",
        yahoo: "Le lundi 23 novembre 2026 à 10:00:00 UTC+1, {A} a écrit :",
        proton: "Le lundi 23 novembre 2026 à 10:00, {A} a écrit :",
        undated: "{A} a écrit :",
        outlook: ["De", "Envoyé", "À", "Objet"],
        outlook_date: "lundi 23 novembre 2026 10:00",
        original: "Message d'origine",
        gmail_forward: "Message transféré",
        apple_forward: "Début du message réexpédié :",
    },
    Lang {
        code: "es",
        reply: [
            "Gracias por el informe, lo hemos reproducido.",
            "Estamos preparando una corrección.",
        ],
        gmail: "El lun, 23 nov 2026 a las 10:00, {N} (<alice@example.org>) escribió:",
        apple: "El 23 nov 2026, a las 10:00, {A} escribió:",
        thunderbird: "El 23/11/26 a las 10:00, {N} escribió:",
        k9: "El 23 de noviembre de 2026 10:00:00 CET, {A} escribió:",
        yahoo: "El lunes, 23 de noviembre de 2026, 10:00:00 CET, {A} escribió:",
        proton: "El lunes, 23 de noviembre de 2026 a las 10:00, {A} escribió:",
        undated: "{A} escribió:",
        outlook: ["De", "Enviado el", "Para", "Asunto"],
        outlook_date: "lunes, 23 de noviembre de 2026 10:00",
        original: "Mensaje original",
        gmail_forward: "Mensaje reenviado",
        apple_forward: "Inicio del mensaje reenviado:",
    },
    Lang {
        code: "pt",
        reply: [
            "Obrigado pelo relatório, conseguimos reproduzi-lo.",
            "Uma correção está a caminho.",
        ],
        gmail: "Em seg., 23 de nov. de 2026 às 10:00, {A} escreveu:",
        apple: "Em 23 de nov. de 2026, à(s) 10:00, {A} escreveu:",
        thunderbird: "Em 23/11/2026 10:00, {N} escreveu:",
        k9: "Em 23 de novembro de 2026 10:00:00 BRT, {A} escreveu:",
        yahoo: "Em segunda-feira, 23 de novembro de 2026 10:00:00 BRT, {A} escreveu:",
        proton: "Em segunda-feira, 23 de novembro de 2026 às 10:00, {A} escreveu:",
        undated: "{A} escreveu:",
        outlook: ["De", "Enviada em", "Para", "Assunto"],
        outlook_date: "segunda-feira, 23 de novembro de 2026 10:00",
        original: "Mensagem original",
        gmail_forward: "Mensagem encaminhada",
        apple_forward: "Início da mensagem encaminhada:",
    },
    Lang {
        code: "it",
        reply: [
            "Grazie per la segnalazione, l'abbiamo riprodotta.",
            "Stiamo preparando una correzione.",
        ],
        gmail: "Il giorno lun 23 nov 2026 alle ore 10:00 {A} ha scritto:",
        apple: "Il giorno 23 nov 2026, alle ore 10:00, {A} ha scritto:",
        thunderbird: "Il 23/11/2026 10:00, {N} ha scritto:",
        k9: "Il 23 novembre 2026 10:00:00 CET, {A} ha scritto:",
        yahoo: "Il lunedì 23 novembre 2026, 10:00:00 CET, {A} ha scritto:",
        proton: "Il lunedì 23 novembre 2026 alle 10:00, {A} ha scritto:",
        undated: "{A} ha scritto:",
        outlook: ["Da", "Inviato", "A", "Oggetto"],
        outlook_date: "lunedì 23 novembre 2026 10:00",
        original: "Messaggio originale",
        gmail_forward: "Messaggio inoltrato",
        apple_forward: "Inizio messaggio inoltrato:",
    },
    Lang {
        code: "nl",
        reply: [
            "Bedankt voor de melding, we hebben het gereproduceerd.",
            "Er wordt aan een oplossing gewerkt.",
        ],
        gmail: "Op ma 23 nov 2026 om 10:00 schreef {A}:",
        apple: "Op 23 nov 2026, om 10:00 heeft {A} het volgende geschreven:",
        thunderbird: "Op 23-11-2026 om 10:00 schreef {N}:",
        k9: "Op 23 november 2026 10:00:00 CET schreef {A}:",
        yahoo: "Op maandag 23 november 2026 10:00:00 CET schreef {A}:",
        proton: "Op maandag 23 november 2026 om 10:00 schreef {A}:",
        undated: "{A} schreef:",
        outlook: ["Van", "Verzonden", "Aan", "Onderwerp"],
        outlook_date: "maandag 23 november 2026 10:00",
        original: "Oorspronkelijk bericht",
        gmail_forward: "Doorgestuurd bericht",
        apple_forward: "Begin doorgestuurd bericht:",
    },
    Lang {
        code: "pl",
        reply: [
            "Dziękujemy za zgłoszenie, udało się je odtworzyć.",
            "Poprawka jest w przygotowaniu.",
        ],
        gmail: "pon., 23 lis 2026 o 10:00 {A} napisał(a):",
        apple: "Wiadomość napisana przez {A} w dniu 23.11.2026, o godz. 10:00:",
        thunderbird: "W dniu 23.11.2026 o 10:00, {N} pisze:",
        k9: "23 listopada 2026 10:00:00 CET, {A} napisał:",
        yahoo: "W poniedziałek, 23 listopada 2026 10:00:00 CET, {A} napisał(-a):",
        proton: "W poniedziałek, 23 listopada 2026 o 10:00, {A} napisał(a):",
        undated: "{A} napisał(a):",
        outlook: ["Od", "Wysłano", "Do", "Temat"],
        outlook_date: "poniedziałek, 23 listopada 2026 10:00",
        original: "Wiadomość oryginalna",
        gmail_forward: "Przekazana wiadomość",
        apple_forward: "Początek przekazywanej wiadomości:",
    },
    Lang {
        code: "ru",
        reply: [
            "Спасибо за сообщение, мы воспроизвели проблему.",
            "Исправление готовится.",
        ],
        gmail: "пн, 23 нояб. 2026 г. в 10:00, {A}:",
        apple: "23 нояб. 2026 г., в 10:00, {A} написал(а):",
        thunderbird: "23.11.2026 10:00, {N} пишет:",
        k9: "23 ноября 2026 г. 10:00:00 GMT+03:00, {A} пишет:",
        yahoo: "понедельник, 23 ноября 2026 г., 10:00:00 GMT+3, {A} написал(-а):",
        proton: "В понедельник, 23 ноября 2026 г. в 10:00, {A} написал:",
        undated: "{A} пишет:",
        outlook: ["От", "Отправлено", "Кому", "Тема"],
        outlook_date: "23 ноября 2026 г. 10:00",
        original: "Исходное сообщение",
        gmail_forward: "Пересылаемое сообщение",
        apple_forward: "Начало переадресованного сообщения:",
    },
    Lang {
        code: "ja",
        reply: [
            "ご報告ありがとうございます。再現できました。",
            "修正を準備しています。",
        ],
        gmail: "2026年11月23日(月) 10:00 {A}:",
        apple: "2026/11/23 10:00、{A}のメール:",
        thunderbird: "2026/11/23 10:00 に {N} さんは書きました:",
        k9: "2026年11月23日 10:00:00 JST, {A}さんは書きました:",
        yahoo: "2026年11月23日月曜日 10:00:00 JST、{A}のメール:",
        proton: "2026年11月23日 月曜日 10:00、{A}が書きました:",
        undated: "{A}さんは書きました:",
        outlook: ["差出人", "送信日時", "宛先", "件名"],
        outlook_date: "2026年11月23日 10:00",
        original: "元のメッセージ",
        gmail_forward: "転送されたメッセージ",
        apple_forward: "転送されたメッセージ:",
    },
    Lang {
        code: "zh",
        reply: ["感谢您的报告，我们已经复现了这个问题。", "修复正在准备中。"],
        gmail: "{A} 于2026年11月23日周一 10:00写道：",
        apple: "2026年11月23日 10:00，{A} 写道：",
        thunderbird: "在 2026/11/23 10:00, {N} 写道:",
        k9: "2026年11月23日 10:00:00 CST, {A} 写道:",
        yahoo: "在 2026年11月23日星期一 10:00:00 CST, {A} 写道:",
        proton: "在 2026年11月23日星期一 10:00，{A} 写道：",
        undated: "{A} 写道：",
        outlook: ["发件人", "发送时间", "收件人", "主题"],
        outlook_date: "2026年11月23日 10:00",
        original: "原始邮件",
        gmail_forward: "转发的邮件",
        apple_forward: "以下是转发的邮件：",
    },
    Lang {
        code: "sv",
        reply: [
            "Tack för rapporten, vi har kunnat återskapa felet.",
            "En rättning förbereds.",
        ],
        gmail: "Den mån 23 nov. 2026 kl 10:00 skrev {A}:",
        apple: "23 nov. 2026 kl. 10:00 skrev {A}:",
        thunderbird: "Den 2026-11-23 kl. 10:00, skrev {N}:",
        k9: "Den 23 november 2026 10:00:00 CET skrev {A}:",
        yahoo: "Den måndag 23 november 2026 10:00:00 CET skrev {A}:",
        proton: "Den måndag 23 november 2026 kl. 10:00 skrev {A}:",
        undated: "{A} skrev:",
        outlook: ["Från", "Skickat", "Till", "Ämne"],
        outlook_date: "den 23 november 2026 10:00",
        original: "Ursprungligt meddelande",
        gmail_forward: "Vidarebefordrat meddelande",
        apple_forward: "Vidarebefordrat mejl:",
    },
    // A language the layout table does not know (no word of it is there): cut by the
    // shapes every client shares.
    Lang {
        code: "fi",
        reply: [
            "Kiitos raportista, saimme virheen toistettua.",
            "Korjausta valmistellaan.",
        ],
        gmail: "ma 23.11.2026 klo 10.00 {A} kirjoitti:",
        apple: "23.11.2026 kello 10.00 {A} kirjoitti:",
        thunderbird: "23.11.2026 10.00, {N} kirjoitti:",
        k9: "23. marraskuuta 2026 10.00.00 CET, {A} kirjoitti:",
        yahoo: "maanantai 23. marraskuuta 2026 klo 10.00.00 CET {A} kirjoitti:",
        proton: "maanantaina 23. marraskuuta 2026 klo 10.00, {A} kirjoitti:",
        undated: "{A} kirjoitti:",
        outlook: ["Lähettäjä", "Lähetetty", "Vastaanottaja", "Aihe"],
        outlook_date: "maanantai 23. marraskuuta 2026 10.00",
        original: "Alkuperäinen viesti",
        gmail_forward: "Välitetty viesti",
        apple_forward: "Alkaa edelleenlähetetty viesti:",
    },
];

/// The language of [`LANGS`] the layout table does not know.
const UNKNOWN_LANGUAGE: &str = "fi";
/// Layouts whose only sign is a word (Apple Mail's forward line with nothing after it
/// but the text): cut in the table's languages only.
const WORD_ONLY: [&str; 1] = ["apple-mail-forward"];

const NAME: &str = "Alice Example";
const ADDRESS: &str = "alice@example.org";

fn fill(pattern: &str) -> String {
    pattern
        .replace("{A}", &format!("{NAME} <{ADDRESS}>"))
        .replace("{N}", NAME)
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The quoted team mail: a secret, a command, a team address.
fn quoted_lines() -> [String; 3] {
    [
        format!("{SECRET} is on git.internal.example, ask bob@example.org."),
        "#close".to_string(),
        "Alice".to_string(),
    ]
}

fn quote_with(prefix: &str) -> String {
    quoted_lines()
        .iter()
        .map(|l| format!("{prefix}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn outlook_block(l: &Lang, html: bool) -> String {
    let [from, sent, to, subject] = l.outlook;
    let rows = [
        (from, format!("{NAME} <{ADDRESS}>")),
        (sent, l.outlook_date.to_string()),
        (to, "security@example.org".to_string()),
        (subject, "RE: [SEC-2026-0001] Heap overflow".to_string()),
    ];
    if html {
        rows.iter()
            .map(|(n, v)| format!("<b>{n}:</b> {}", esc(v)))
            .collect::<Vec<_>>()
            .join("<br>\n")
    } else {
        rows.iter()
            .map(|(n, v)| format!("{n}: {v}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// The quoted team mail's lines, escaped for HTML, joined with `sep`.
fn quoted_html(sep: &str) -> String {
    quoted_lines().map(|q| esc(&q)).join(sep)
}

/// A text reply above the quote: `#reply`, the two reply paragraphs, then `below`.
fn above(l: &Lang, below: String) -> String {
    format!("#reply\n{}\n\n{}\n\n{below}", l.reply[0], l.reply[1])
}

/// A reply layout: (client, format, body builder). Bodies start with `#reply`.
type Build = fn(&Lang) -> String;

fn layouts() -> Vec<(&'static str, &'static str, Build)> {
    vec![
        ("gmail", "text", |l| {
            above(l, format!("{}\n\n{}\n", fill(l.gmail), quote_with("> ")))
        }),
        ("gmail", "html", |l| {
            format!(
                "<div dir=\"ltr\">#reply<div>{}</div><div><br></div><div>{}</div></div><br>\
                 <div class=\"gmail_quote gmail_quote_container\"><div dir=\"ltr\" class=\"gmail_attr\">{}<br></div>\
                 <blockquote class=\"gmail_quote\" style=\"margin:0px 0px 0px 0.8ex;border-left:1px solid rgb(204,204,204);padding-left:1ex\">\
                 <div dir=\"ltr\">{}</div></blockquote></div>",
                esc(l.reply[0]),
                esc(l.reply[1]),
                esc(&fill(l.gmail)),
                quoted_html("<br>")
            )
        }),
        ("outlook-desktop", "text", |l| {
            above(
                l,
                format!("{}\n\n{}\n", outlook_block(l, false), quote_with("")),
            )
        }),
        ("outlook-desktop-classic", "text", |l| {
            format!(
                "#reply\r\n{}\r\n\r\n{}\r\n\r\n-----{}-----\r\n{}\r\n\r\n{}\r\n",
                l.reply[0],
                l.reply[1],
                l.original,
                outlook_block(l, false),
                quote_with("")
            )
        }),
        ("outlook-desktop", "html", |l| {
            format!(
                "<html><head><style><!-- p.MsoNormal {{margin:0cm}} --></style></head><body lang=EN-GB>\
                 <div class=WordSection1><p class=MsoNormal>#reply<o:p></o:p></p>\
                 <p class=MsoNormal>{}<o:p></o:p></p><p class=MsoNormal><o:p>&nbsp;</o:p></p>\
                 <p class=MsoNormal>{}<o:p></o:p></p><p class=MsoNormal><o:p>&nbsp;</o:p></p>\
                 <div style='border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm'>\
                 <p class=MsoNormal>{}<o:p></o:p></p></div>\
                 <p class=MsoNormal>{}<o:p></o:p></p></div></body></html>",
                esc(l.reply[0]),
                esc(l.reply[1]),
                outlook_block(l, true),
                quoted_html("<br>")
            )
        }),
        ("outlook-web", "text", |l| {
            above(
                l,
                format!(
                    "________________________________\n{}\n\n{}\n",
                    outlook_block(l, false),
                    quote_with("")
                ),
            )
        }),
        ("outlook-web", "html", |l| {
            format!(
                "<div class=\"elementToProof\">#reply</div><div class=\"elementToProof\">{}</div>\
                 <div><br></div><div class=\"elementToProof\">{}</div><div id=\"appendonsend\"></div>\
                 <hr style=\"display:inline-block;width:98%\" tabindex=\"-1\">\
                 <div id=\"divRplyFwdMsg\" dir=\"ltr\"><font face=\"Calibri, sans-serif\" style=\"font-size:11pt\" color=\"#000000\">{}</font>\
                 <div>&nbsp;</div></div><div>{}</div>",
                esc(l.reply[0]),
                esc(l.reply[1]),
                outlook_block(l, true),
                quoted_html("<br>")
            )
        }),
        ("apple-mail", "text", |l| {
            above(
                l,
                format!("> {}\n> \n{}\n", fill(l.apple), quote_with("> ")),
            )
        }),
        ("apple-mail", "html", |l| {
            format!(
                "<html><head><meta http-equiv=\"content-type\" content=\"text/html; charset=utf-8\"></head>\
                 <body style=\"overflow-wrap: break-word; -webkit-nbsp-mode: space; line-break: after-white-space;\">\
                 #reply<br>{}<br><br>{}<br id=\"lineBreakAtBeginningOfMessage\"><div><br><blockquote type=\"cite\">\
                 <div>{}</div><br class=\"Apple-interchange-newline\"><div><div>{}</div></div></blockquote></div><br></body></html>",
                esc(l.reply[0]),
                esc(l.reply[1]),
                esc(&fill(l.apple)),
                quoted_html("</div><div>")
            )
        }),
        // Thunderbird's default: the reply below the quote.
        ("thunderbird", "text", |l| {
            format!(
                "#reply\n{}\n{}\n\n{}\n\n{}\n\n-- \nAlice Example\n{ADDRESS}\n",
                fill(l.thunderbird),
                quote_with("> "),
                l.reply[0],
                l.reply[1],
            )
        }),
        ("thunderbird", "html", |l| {
            format!(
                "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\"></head><body>\
                 <p>#reply</p><div class=\"moz-cite-prefix\">{}<br></div>\
                 <blockquote type=\"cite\" cite=\"mid:a1@example.org\"><pre class=\"moz-quote-pre\" wrap=\"\">{}</pre></blockquote>\
                 <p>{}</p><p>{}</p><pre class=\"moz-signature\" cols=\"72\">-- \nAlice Example</pre></body></html>",
                esc(&fill(l.thunderbird)),
                quoted_html("\n"),
                esc(l.reply[0]),
                esc(l.reply[1]),
            )
        }),
        ("k9-fairemail", "text", |l| {
            above(l, format!("{}\n{}\n", fill(l.k9), quote_with("> ")))
        }),
        ("k9-fairemail", "html", |l| {
            format!(
                "<!DOCTYPE html><html><head></head><body><p dir=\"auto\">#reply<br>{}</p><p dir=\"auto\">{}</p>\
                 <p dir=\"auto\">{}</p><blockquote style=\"margin:0 0 0 3px;border-left:3px solid #ccc;padding-left:3px\">{}</blockquote></body></html>",
                esc(l.reply[0]),
                esc(l.reply[1]),
                esc(&fill(l.k9)),
                quoted_html("<br>")
            )
        }),
        // Yahoo's text part quotes without `>`: the attribution alone marks the quote.
        ("yahoo", "text", |l| {
            above(l, format!("\n{}\n\n\n{}\n", fill(l.yahoo), quote_with("")))
        }),
        ("yahoo", "html", |l| {
            format!(
                "<html><head></head><body><div class=\"ydp1a2b3c4dyahoo-style-wrap\" style=\"font-family:Helvetica Neue, Helvetica, Arial, sans-serif;font-size:13px;\">\
                 <div>#reply</div><div dir=\"ltr\">{}</div><div><br></div><div dir=\"ltr\">{}</div></div>\
                 <div id=\"yahoo_quoted_9876543210\" class=\"yahoo_quoted\"><div style=\"font-family:'Helvetica Neue', Helvetica, Arial, sans-serif;font-size:13px;color:#26282a;\">\
                 <div>{}</div><div><br></div><div><br></div><div><div dir=\"ltr\">{}</div></div></div></div></body></html>",
                esc(l.reply[0]),
                esc(l.reply[1]),
                esc(&fill(l.yahoo)),
                quoted_html("<br>")
            )
        }),
        ("proton", "text", |l| {
            above(
                l,
                format!(
                    "------- {} -------\n{}\n\n\n{}\n",
                    l.original,
                    fill(l.proton),
                    quote_with("> ")
                ),
            )
        }),
        ("proton", "html", |l| {
            format!(
                "<div style=\"font-family: Arial, sans-serif; font-size: 14px;\">#reply</div>\
                 <div style=\"font-family: Arial, sans-serif; font-size: 14px;\">{}<br><br>{}</div>\
                 <div class=\"protonmail_signature_block protonmail_signature_block-empty\" style=\"font-family: Arial, sans-serif; font-size: 14px;\"></div>\
                 <div class=\"protonmail_quote\">{}<br><blockquote class=\"protonmail_quote\" type=\"cite\">{}</blockquote><br></div>",
                esc(l.reply[0]),
                esc(l.reply[1]),
                esc(&fill(l.proton)),
                quoted_html("<br>")
            )
        }),
        // Forwards of a team mail below the reply; the forwarded headers left out, so
        // that the separator alone must cut.
        ("gmail-forward", "text", |l| {
            above(
                l,
                format!(
                    "---------- {} ---------\n{}\n",
                    l.gmail_forward,
                    quote_with("")
                ),
            )
        }),
        ("apple-mail-forward", "text", |l| {
            above(l, format!("{}\n\n{}\n", l.apple_forward, quote_with("")))
        }),
        // Mutt-style clients and some webmails: an attribution without a date.
        ("undated", "text", |l| {
            above(l, format!("{}\n{}\n", fill(l.undated), quote_with("> ")))
        }),
        // `|` quoting (some webmail plain-text parts, list archives).
        ("pipe-quoted", "text", |l| {
            above(l, format!("{}\n{}\n", fill(l.gmail), quote_with("| ")))
        }),
    ]
}

/// Checks one body: `#reply` is the only command, the cut text is `want`, and nothing of
/// the quoted team mail survives.
fn check(name: &str, body: &str, want: &str) -> Result<(), String> {
    let parsed = parse_body(body);
    let commands: Vec<_> = parsed.commands.iter().map(|c| c.parsed.clone()).collect();
    if commands != vec![Ok(Command::Reply)] {
        return Err(format!("{name}: commands {commands:?}"));
    }
    if parsed.text != want {
        return Err(format!(
            "{name}: cut text\n--- got ---\n{}\n--- want ---\n{want}\n--- from ---\n{body}",
            parsed.text
        ));
    }
    for leak in std::iter::once(SECRET)
        .chain(TEAM_ADDRESSES)
        .chain(["#close"])
    {
        if parsed.text.contains(leak) {
            return Err(format!("{name}: {leak:?} survived:\n{}", parsed.text));
        }
    }
    Ok(())
}

#[test]
fn every_client_layout_in_every_language_is_cut() {
    let mut failures = Vec::new();
    let mut n = 0;
    for l in LANGS {
        for (client, format, build) in layouts() {
            n += 1;
            if l.code == UNKNOWN_LANGUAGE && WORD_ONLY.contains(&client) {
                continue;
            }
            let raw = build(l);
            // HTML paragraphs become lines; whether a blank line separates them is the
            // converter's business, not the cutter's.
            let (body, want) = if format == "html" {
                (
                    html_to_text(&raw).replace("\n\n", "\n"),
                    format!("{}\n{}", l.reply[0], l.reply[1]),
                )
            } else {
                (raw, format!("{}\n\n{}", l.reply[0], l.reply[1]))
            };
            if let Err(e) = check(&format!("{}/{client}/{format}", l.code), &body, &want) {
                failures.push(e);
            }
        }
    }
    assert_eq!(n, LANGS.len() * 21);
    assert!(
        failures.is_empty(),
        "{} of {n} layouts leak or cut wrong:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn real_looking_reply_mails_are_cut() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/replies/layouts");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    names.sort();
    assert!(names.len() >= 10, "only {} fixtures", names.len());
    let mut failures = Vec::new();
    for path in &names {
        let raw = std::fs::read(path).unwrap();
        let want = std::fs::read_to_string(path.with_extension("expected")).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let Parsed::Mail(m) = mail::parse(&raw) else {
            failures.push(format!("{name}: unreadable"));
            continue;
        };
        if let Err(e) = check(&name, &m.text, want.trim_end()) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The whole path: each real-looking reply, sent by an authenticated team member on an
/// open case, becomes a mail to the reporter with only the member's words.
#[test]
fn real_looking_replies_reach_the_reporter_cut() {
    use crate::world::{RITA, World, body, report};
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/replies/layouts");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    names.sort();
    for path in &names {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let mut w = World::new();
        w.deliver(&report(
            "r1@reporter.test",
            "Heap overflow",
            "It overflows.",
        ));
        w.new_mail();
        let raw = String::from_utf8(std::fs::read(path).unwrap()).unwrap();
        let stamped = format!(
            "Authentication-Results: mx.example.org; dkim=pass header.d=example.org\r\n{raw}"
        );
        w.deliver(&stamped);
        let out = w.new_mail();
        let reply = out
            .iter()
            .find(|r| r.purpose.as_str() == "reply" && r.recipients == [RITA])
            .unwrap_or_else(|| panic!("{name}: no reply among {out:?}"));
        let text = body(&reply.bytes);
        let want = std::fs::read_to_string(path.with_extension("expected")).unwrap();
        for line in want.lines().filter(|l| !l.is_empty()) {
            assert!(text.contains(line), "{name}: {line:?} missing from\n{text}");
        }
        for leak in [SECRET, "#close", "security@example.org"] {
            assert!(
                !text.contains(leak),
                "{name}: {leak:?} reached the reporter:\n{text}"
            );
        }
        let bytes = String::from_utf8_lossy(&reply.bytes);
        for leak in ["alice@example.org", "bob@example.org"] {
            assert!(
                !bytes.contains(leak),
                "{name}: {leak:?} reached the reporter"
            );
        }
    }
}
