package provider

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/ory/fosite"

	"github.com/authd/authd/internal/telemetry"
)

// Dynamic client registration paths (RFC 7591 §3, RFC 7592 §2): a
// client's registration_client_uri is PathRegister/<client_id>.
const PathRegister = "/oauth2/register"

// RegistrationConfig switches dynamic client registration.
type RegistrationConfig struct {
	// Enabled serves PathRegister and advertises it in discovery. Without
	// an initial access token (`authd clients registration-token create`)
	// nobody can register anyway.
	Enabled bool `koanf:"enabled"`
}

// maxRegistrationBytes bounds a registration request's JSON body.
const maxRegistrationBytes = 64 << 10

// RFC 7591 §3.2.2 errors; the status of a too large or non-JSON body
// follows HTTP (RFC 9110 §15.5.14, §15.5.16), the error code RFC 7591.
var (
	errInvalidRedirectURI = &fosite.RFC6749Error{ErrorField: "invalid_redirect_uri", CodeField: http.StatusBadRequest,
		DescriptionField: "The value of one or more redirection URIs is invalid."}
	errInvalidClientMetadata = &fosite.RFC6749Error{ErrorField: "invalid_client_metadata", CodeField: http.StatusBadRequest,
		DescriptionField: "The value of one of the client metadata fields is invalid."}
	errRegistrationToken = &fosite.RFC6749Error{ErrorField: "invalid_token", CodeField: http.StatusUnauthorized,
		DescriptionField: "The access token is missing, unknown, expired, revoked or used up."}
)

// handleRegister is the client registration endpoint (RFC 7591 §3): an
// initial access token as bearer, the client's metadata as JSON; 201 and
// the client information response, with the client's registration
// access token and registration_client_uri (RFC 7592 §3).
func (p *Provider) handleRegister(w http.ResponseWriter, r *http.Request) {
	if !p.registrationAllowed(w, r, http.MethodPost) {
		return
	}
	token, ok := authorizationBearer(r)
	if !ok {
		p.writeRegistrationError(w, r, ErrInvalidToken)
		return
	}
	// Authenticate first: without a token, nothing about the body is told.
	if _, err := p.registrar.initialToken(r.Context(), token); err != nil {
		p.writeRegistrationError(w, r, err)
		return
	}
	var m ClientMetadata
	if err := readClientMetadata(w, r, &m); err != nil {
		p.writeRegistrationError(w, r, err)
		return
	}
	reg, err := p.registrar.Register(r.Context(), token, m)
	if err != nil {
		p.writeRegistrationError(w, r, err)
		return
	}
	p.writeClientInformation(w, reg, http.StatusCreated)
}

// handleClientConfiguration is the client configuration endpoint (RFC
// 7592 §2): GET reads, PUT replaces (rotating the registration access
// token) and DELETE removes the client the bearer registration access
// token is for.
func (p *Provider) handleClientConfiguration(w http.ResponseWriter, r *http.Request) {
	if !p.registrationAllowed(w, r, http.MethodGet, http.MethodPut, http.MethodDelete) {
		return
	}
	ctx, id := r.Context(), r.PathValue("client_id")
	token, ok := authorizationBearer(r)
	if !ok {
		p.writeRegistrationError(w, r, ErrInvalidToken)
		return
	}
	switch r.Method {
	case http.MethodGet:
		reg, err := p.registrar.Read(ctx, id, token)
		if err != nil {
			p.writeRegistrationError(w, r, err)
			return
		}
		p.writeClientInformation(w, reg, http.StatusOK)
	case http.MethodDelete:
		if err := p.registrar.Delete(ctx, id, token); err != nil {
			p.writeRegistrationError(w, r, err)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNoContent)
	case http.MethodPut:
		// Authenticate first, as at registration.
		if _, err := p.registrar.registration(ctx, id, token); err != nil {
			p.writeRegistrationError(w, r, err)
			return
		}
		var body struct {
			ClientMetadata
			ClientID     string `json:"client_id"`
			ClientSecret string `json:"client_secret"`
		}
		if err := readClientMetadata(w, r, &body); err != nil {
			p.writeRegistrationError(w, r, err)
			return
		}
		if body.ClientID != "" && body.ClientID != id {
			p.writeRegistrationError(w, r, errInvalidClientMetadata.WithHint("The client_id is not the client's (RFC 7592 §2.2)."))
			return
		}
		reg, err := p.registrar.Update(ctx, id, token, body.ClientMetadata, body.ClientSecret)
		if err != nil {
			p.writeRegistrationError(w, r, err)
			return
		}
		p.writeClientInformation(w, reg, http.StatusOK)
	}
}

// registrationAllowed answers what every registration request must pass:
// the rate limit of the token endpoint and the method.
func (p *Provider) registrationAllowed(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	if p.limiter != nil {
		if retry, ok := p.limiter.TokenByIP(r.Context(), telemetry.ClientIP(r)); !ok {
			p.tooManyRequests(r.Context(), w, r, nil, retry)
			return false
		}
	}
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	p.writeError(r.Context(), w, r, nil, &fosite.RFC6749Error{ErrorField: "invalid_request", CodeField: http.StatusMethodNotAllowed,
		DescriptionField: "The request method is not allowed here."})
	return false
}

// authorizationBearer is the RFC 6750 §2.1 bearer token of the
// Authorization header (registration takes no other form).
func authorizationBearer(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	return token, ok && strings.EqualFold(scheme, "Bearer") && token != ""
}

// readClientMetadata reads a JSON object of at most 64 KiB, refusing
// another content type and duplicate members (which parsers resolve
// differently); members it does not know are ignored (RFC 7591 §2).
func readClientMetadata(w http.ResponseWriter, r *http.Request, dst any) error {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		err := *errInvalidClientMetadata.WithHint("The body must be application/json.")
		err.CodeField = http.StatusUnsupportedMediaType
		return &err
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRegistrationBytes))
	if err != nil {
		if errors.As(err, new(*http.MaxBytesError)) {
			err := *errInvalidClientMetadata.WithHintf("The body exceeds %d KiB.", maxRegistrationBytes>>10)
			err.CodeField = http.StatusRequestEntityTooLarge
			return &err
		}
		return errInvalidClientMetadata.WithHint("The body could not be read.").WithWrap(err)
	}
	if err := checkJSONObject(raw); err != nil {
		return errInvalidClientMetadata.WithHint(err.Error())
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return errInvalidClientMetadata.WithHintf("The member %s has the wrong type (want %s).", te.Field, te.Type)
		}
		return errInvalidClientMetadata.WithHint("The body is not valid JSON.")
	}
	return nil
}

// checkJSONObject reports whether raw is one JSON object with no member
// named twice in any object (names compared as encoding/json matches
// them: ignoring case).
func checkJSONObject(raw []byte) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return errors.New("the body must be a JSON object")
	}
	if err := checkObject(dec, 1); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("the body must be one JSON object")
	}
	return nil
}

// checkObject reads the members of an object whose '{' was read.
func checkObject(dec *json.Decoder, depth int) error {
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return errors.New("the body is not valid JSON")
		}
		name := strings.ToLower(t.(string))
		if seen[name] {
			return fmt.Errorf("the member %q appears twice", t)
		}
		seen[name] = true
		if err := checkValue(dec, depth); err != nil {
			return err
		}
	}
	_, err := dec.Token() // '}'
	if err != nil {
		return errors.New("the body is not valid JSON")
	}
	return nil
}

func checkValue(dec *json.Decoder, depth int) error {
	if depth > 16 {
		return errors.New("the body is nested too deeply")
	}
	t, err := dec.Token()
	if err != nil {
		return errors.New("the body is not valid JSON")
	}
	switch t {
	case json.Delim('{'):
		return checkObject(dec, depth+1)
	case json.Delim('['):
		for dec.More() {
			if err := checkValue(dec, depth+1); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return errors.New("the body is not valid JSON")
		}
	}
	return nil
}

// writeRegistrationError answers a failed registration request: 401 and
// an RFC 6750 §3 challenge for a bad token (naming no error when none
// was sent, §3.1), invalid_redirect_uri or invalid_client_metadata (RFC
// 7591 §3.2.2) for a refused client, fosite's error otherwise. The
// description lists every problem; it never holds a token or secret.
func (p *Provider) writeRegistrationError(w http.ResponseWriter, r *http.Request, err error) {
	var ice *InvalidClientError
	switch {
	case errors.Is(err, ErrInvalidToken):
		if _, sent := authorizationBearer(r); sent {
			w.Header().Set("WWW-Authenticate", `Bearer realm="authd", error="invalid_token"`)
		} else {
			w.Header().Set("WWW-Authenticate", `Bearer realm="authd"`)
		}
		err = errRegistrationToken
	case errors.As(err, &ice):
		problems := strings.ReplaceAll(ice.Error(), "\n", "; ")
		if errors.As(err, new(*RedirectURIError)) {
			err = errInvalidRedirectURI.WithHint(problems)
		} else {
			err = errInvalidClientMetadata.WithHint(problems)
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	p.writeError(r.Context(), w, r, nil, err)
}

// clientInformation is the client information response (RFC 7591 §3.2.1,
// RFC 7592 §3).
type clientInformation struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret,omitempty"`
	// ClientIDIssuedAt is when the client was registered (Unix seconds).
	ClientIDIssuedAt int64 `json:"client_id_issued_at"`
	// ClientSecretExpiresAt is 0 (never) for a client with a secret.
	ClientSecretExpiresAt   *int64 `json:"client_secret_expires_at,omitempty"`
	RegistrationAccessToken string `json:"registration_access_token,omitempty"`
	RegistrationClientURI   string `json:"registration_client_uri"`
	ClientMetadata
}

func (p *Provider) writeClientInformation(w http.ResponseWriter, reg *Registered, status int) {
	c := reg.Client
	info := clientInformation{ClientID: c.ID, ClientSecret: reg.Secret, ClientIDIssuedAt: c.CreatedAt.Unix(),
		RegistrationAccessToken: reg.RegistrationToken, RegistrationClientURI: p.cfg.Issuer + PathRegister + "/" + c.ID,
		ClientMetadata: MetadataOf(c, reg.Extra)}
	if len(c.SecretHash) > 0 {
		info.ClientSecretExpiresAt = new(int64)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(info) // #nosec G117 -- RFC 7591 §3.2.1: the client secret is issued in this response, once
}
