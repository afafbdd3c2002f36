//! Reply layouts as data: how mail clients, in each language, introduce the text they
//! quote. The quote cutter (`quoting.rs`) and the HTML converter (`html.rs`) read these
//! tables; supporting a new client or language is a new row, never a new code branch.
//!
//! Every string is lower-case (matching lower-cases the line first). Sources: the layouts
//! Gmail, Outlook (desktop and web), Apple Mail, Thunderbird, K-9/FairEmail, Yahoo and
//! Proton produce in each language, written down from their known output.
//!
//! Invariant: plain data, no logic.

/// One language's reply layouts.
pub struct Layout {
    pub lang: &'static str,
    /// The verb of an attribution line (`On … Alice <a@x> wrote:`). Matched as a whole
    /// word (a substring for scripts without spaces); the line ends with a colon.
    pub wrote: &'static [&'static str],
    /// Words an attribution starts with (`On`, `Am`, `Le` …), so that a date-led line
    /// wrapped by the client is still recognised when its verb is on the next line.
    pub openers: &'static [&'static str],
    /// What sits between dashes in a separator: `-----Original Message-----`,
    /// `---------- Forwarded message ---------`.
    pub separators: &'static [&'static str],
    /// Whole lines that introduce a forwarded or quoted message (Apple's
    /// `Begin forwarded message:`), compared without spaces before the colon.
    pub intros: &'static [&'static str],
    /// The field names of Outlook's header block (`From: / Sent: / To: / Subject:`) and
    /// of the forwarded-message headers other clients write.
    pub from: &'static [&'static str],
    pub sent: &'static [&'static str],
    pub to: &'static [&'static str],
    pub subject: &'static [&'static str],
}

pub const LAYOUTS: &[Layout] = &[
    Layout {
        lang: "en",
        wrote: &["wrote"],
        openers: &["on"],
        separators: &["original message", "forwarded message"],
        intros: &["begin forwarded message:", "forwarded message:"],
        from: &["from"],
        sent: &["sent", "date"],
        to: &["to", "cc"],
        subject: &["subject"],
    },
    Layout {
        lang: "de",
        wrote: &["schrieb", "geschrieben"],
        openers: &["am"],
        separators: &[
            "ursprüngliche nachricht",
            "weitergeleitete nachricht",
            "original-nachricht",
        ],
        intros: &["anfang der weitergeleiteten nachricht:"],
        from: &["von"],
        sent: &["gesendet", "datum"],
        to: &["an", "cc"],
        subject: &["betreff"],
    },
    Layout {
        lang: "fr",
        wrote: &["a écrit"],
        openers: &["le"],
        separators: &["message d'origine", "message original", "message transféré"],
        intros: &["début du message réexpédié:", "début du message transféré:"],
        from: &["de"],
        sent: &["envoyé", "date"],
        to: &["à", "a", "cc"],
        subject: &["objet", "sujet"],
    },
    Layout {
        lang: "es",
        wrote: &["escribió"],
        openers: &["el"],
        separators: &["mensaje original", "mensaje reenviado"],
        intros: &["inicio del mensaje reenviado:"],
        from: &["de"],
        sent: &["enviado", "enviado el", "fecha"],
        to: &["para", "cc"],
        subject: &["asunto"],
    },
    Layout {
        lang: "pt",
        wrote: &["escreveu"],
        openers: &["em"],
        separators: &[
            "mensagem original",
            "mensagem encaminhada",
            "mensagem reencaminhada",
        ],
        intros: &[
            "início da mensagem encaminhada:",
            "início da mensagem reencaminhada:",
        ],
        from: &["de"],
        sent: &["enviada", "enviado", "enviada em", "enviado em", "data"],
        to: &["para", "cc"],
        subject: &["assunto"],
    },
    Layout {
        lang: "it",
        wrote: &["ha scritto"],
        openers: &["il", "il giorno"],
        separators: &["messaggio originale", "messaggio inoltrato"],
        intros: &["inizio messaggio inoltrato:"],
        from: &["da"],
        sent: &["inviato", "data"],
        to: &["a", "cc"],
        subject: &["oggetto"],
    },
    Layout {
        lang: "nl",
        wrote: &["schreef", "geschreven"],
        openers: &["op"],
        separators: &[
            "oorspronkelijk bericht",
            "origineel bericht",
            "doorgestuurd bericht",
        ],
        intros: &["begin doorgestuurd bericht:"],
        from: &["van"],
        sent: &["verzonden", "datum"],
        to: &["aan", "cc"],
        subject: &["onderwerp"],
    },
    Layout {
        lang: "pl",
        wrote: &["napisał", "napisała", "napisał(a)", "napisana", "pisze"],
        openers: &["w dniu", "dnia"],
        separators: &[
            "wiadomość oryginalna",
            "oryginalna wiadomość",
            "przekazana wiadomość",
            "wiadomość przekazana dalej",
        ],
        intros: &["początek przekazywanej wiadomości:"],
        from: &["od"],
        sent: &["wysłano", "wysłane", "data"],
        to: &["do", "dw"],
        subject: &["temat"],
    },
    Layout {
        lang: "ru",
        wrote: &["пишет", "написал", "написала", "написал(а)"],
        openers: &[],
        separators: &[
            "исходное сообщение",
            "пересылаемое сообщение",
            "пересланное сообщение",
        ],
        intros: &["начало переадресованного сообщения:"],
        from: &["от"],
        sent: &["отправлено", "дата"],
        to: &["кому", "копия"],
        subject: &["тема"],
    },
    Layout {
        lang: "ja",
        wrote: &["のメール", "書きました", "さんは書きました"],
        openers: &[],
        separators: &["元のメッセージ", "転送メッセージ", "転送されたメッセージ"],
        intros: &["転送されたメッセージ:"],
        from: &["差出人", "送信者"],
        sent: &["送信日時", "日付"],
        to: &["宛先", "cc"],
        subject: &["件名"],
    },
    Layout {
        lang: "zh",
        wrote: &["写道", "寫道"],
        openers: &[],
        separators: &["原始邮件", "原始郵件", "转发的邮件", "轉寄郵件"],
        intros: &["以下是转发的邮件:", "转发的邮件:"],
        from: &["发件人", "寄件者", "寄件人"],
        sent: &["发送时间", "日期", "時間", "傳送時間", "寄件日期"],
        to: &["收件人", "抄送", "收件者"],
        subject: &["主题", "主旨"],
    },
    Layout {
        lang: "sv",
        wrote: &["skrev"],
        openers: &["den"],
        separators: &[
            "ursprungligt meddelande",
            "originalmeddelande",
            "vidarebefordrat meddelande",
        ],
        intros: &[
            "vidarebefordrat mejl:",
            "början på vidarebefordrat meddelande:",
        ],
        from: &["från"],
        sent: &["skickat", "datum"],
        to: &["till", "kopia"],
        subject: &["ämne"],
    },
];

/// What an HTML quote container means for the text around it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HtmlQuote {
    /// Its contents are quoted matter (Gmail's `gmail_quote`, a `<blockquote>`).
    Contents,
    /// It and everything after it are quoted matter (Outlook's reply header, which
    /// precedes the quoted mail rather than containing it).
    Rest,
}

/// An HTML element that holds, or starts, quoted matter.
pub struct HtmlMarker {
    pub client: &'static str,
    pub tag: &'static str,
    /// Found anywhere in the lower-cased start tag (class, id or style); "" for any.
    pub needle: &'static str,
    pub kind: HtmlQuote,
}

pub const HTML_QUOTES: &[HtmlMarker] = &[
    HtmlMarker {
        client: "any (Apple Mail, Thunderbird, Gmail, K-9/FairEmail)",
        tag: "blockquote",
        needle: "",
        kind: HtmlQuote::Contents,
    },
    HtmlMarker {
        client: "Gmail",
        tag: "div",
        needle: "gmail_quote",
        kind: HtmlQuote::Contents,
    },
    HtmlMarker {
        client: "Thunderbird, Apple Mail",
        tag: "div",
        needle: "moz-cite-prefix",
        kind: HtmlQuote::Contents,
    },
    HtmlMarker {
        client: "Yahoo",
        tag: "div",
        needle: "yahoo_quoted",
        kind: HtmlQuote::Contents,
    },
    HtmlMarker {
        client: "Proton",
        tag: "div",
        needle: "protonmail_quote",
        kind: HtmlQuote::Contents,
    },
    HtmlMarker {
        client: "FairEmail",
        tag: "div",
        needle: "fairemail_quote",
        kind: HtmlQuote::Contents,
    },
    HtmlMarker {
        client: "styled quotes (many webmails, older Outlook)",
        tag: "div",
        needle: "border-left",
        kind: HtmlQuote::Contents,
    },
    HtmlMarker {
        client: "Outlook web",
        tag: "div",
        needle: "divrplyfwdmsg",
        kind: HtmlQuote::Rest,
    },
    HtmlMarker {
        client: "Outlook web",
        tag: "div",
        needle: "appendonsend",
        kind: HtmlQuote::Rest,
    },
    HtmlMarker {
        client: "Outlook desktop",
        tag: "div",
        needle: "border:none;border-top:solid",
        kind: HtmlQuote::Rest,
    },
    HtmlMarker {
        client: "Outlook (mobile and Mac)",
        tag: "div",
        needle: "id=\"mail-editor-reference-message-container\"",
        kind: HtmlQuote::Rest,
    },
];
