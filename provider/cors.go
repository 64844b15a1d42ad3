package provider

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/authd/authd/storage"
)

// corsMaxAge is how long, in seconds, a browser may keep a preflight
// answer.
const corsMaxAge = "600"

// webOrigins are the origins a client's browser code may call from: the
// registered ones (clients create --web-origin), else the origins
// (scheme://host[:port]) of its http and https redirect URIs.
func webOrigins(c *storage.Client) []string {
	if len(c.WebOrigins) > 0 {
		return c.WebOrigins
	}
	var out []string
	for _, raw := range c.RedirectURIs {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			continue
		}
		if o := u.Scheme + "://" + strings.ToLower(u.Host); !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	return out
}

// withCORS lets browser applications (single-page apps, public clients)
// call an endpoint from their own origin (the Fetch standard's CORS):
// the answer carries Access-Control-Allow-Origin only when the calling
// client, as clientOf reads it from the request, registered that origin
// (webOrigins), never "*" and never with credentials (the endpoints
// take no cookies). A preflight is answered for any origin: it only lets
// the browser send the request, which a form post from any page can
// already do; whether the page may read the answer is decided on the
// answer itself.
func (p *Provider) withCORS(methods string, clientOf func(w http.ResponseWriter, r *http.Request) string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" {
			h(w, r)
			return
		}
		hd := w.Header()
		hd.Add("Vary", "Origin")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			hd.Set("Access-Control-Allow-Origin", origin)
			hd.Set("Access-Control-Allow-Methods", methods)
			hd.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, DPoP")
			hd.Set("Access-Control-Max-Age", corsMaxAge)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if id := clientOf(w, r); id != "" {
			if c, err := p.clients.GetStoredClient(r.Context(), id); err == nil && slices.Contains(webOrigins(c), origin) {
				hd.Set("Access-Control-Allow-Origin", origin)
				hd.Set("Access-Control-Expose-Headers", "WWW-Authenticate, DPoP-Nonce")
			}
		}
		h(w, r)
	}
}

// formClient is the client a token or revocation request names: the
// HTTP Basic user, else the body's client_id. The body is read here,
// bounded, for the handler after.
func (p *Provider) formClient(w http.ResponseWriter, r *http.Request) string {
	if id, _, ok := r.BasicAuth(); ok {
		if id, err := url.QueryUnescape(id); err == nil {
			return id
		}
		return ""
	}
	if r.Method != http.MethodPost {
		return ""
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return "" // the handler answers it
	}
	return r.PostForm.Get("client_id")
}
