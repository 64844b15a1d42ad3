package provider

import (
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"
)

// formPostScript submits the response form at once; the page's policy
// allows this script by its hash and nothing else.
const formPostScript = `document.forms[0].submit()`

var (
	formPostScriptHash = func() string {
		sum := sha256.Sum256([]byte(formPostScript))
		return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	}()
	formPostPage = template.Must(template.New("form_post").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Returning to the application</title></head>
<body><form method="post" action="{{.Action}}">
{{- range $k, $vs := .Params}}{{range $vs}}<input type="hidden" name="{{$k}}" value="{{.}}">{{end}}{{end}}
<p>Returning to the application…</p><button type="submit">Continue</button></form>
<script>` + formPostScript + `</script></body></html>
`))
)

// writeFormPost answers an authorization request that asked for
// response_mode=form_post (OAuth 2.0 Form Post Response Mode): a page
// whose form posts params to the redirect URI, submitted by a script the
// policy allows by hash (a person without JavaScript presses Continue).
// The policy lets the form post only to the redirect URI's origin.
// fosite's own form_post page submits from an inline event handler that
// authd's policy forbids, and carries no iss for errors.
func writeFormPost(w http.ResponseWriter, redirect *url.URL, params url.Values) {
	target := redirect.Scheme + ":"
	if redirect.Host != "" {
		target = redirect.Scheme + "://" + redirect.Host
	}
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src "+formPostScriptHash+"; form-action "+target+
		"; frame-ancestors 'none'; base-uri 'none'")
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(http.StatusOK)
	// The redirect URI is a registered one (fosite checked it), so it may
	// be an app's own scheme, which html/template would otherwise blank.
	_ = formPostPage.Execute(w, struct {
		Action template.URL
		Params url.Values
	}{template.URL(redirect.String()), params}) // #nosec G203 -- as above
}
