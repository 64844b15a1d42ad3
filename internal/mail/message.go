package mail

// Message is one mail to one recipient: To is a bare address, Subject and
// Text are required, HTML is optional (when set, the mail carries both as
// multipart/alternative).
type Message struct{ To, Subject, Text, HTML string }
