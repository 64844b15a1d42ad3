package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/authd/authd/storage"
)

// Shared Signals transmitter paths.
const (
	PathSSFConfiguration = "/.well-known/ssf-configuration"
	PathStreams          = "/ssf/streams"
	PathStreamStatus     = "/ssf/status"
	PathAddSubject       = "/ssf/subjects:add"
	PathRemoveSubject    = "/ssf/subjects:remove"
	PathVerify           = "/ssf/verify"
)

// Scopes of the transmitter's endpoints: manage covers read.
const (
	ScopeStreamsManage = "ssf.manage"
	ScopeStreamsRead   = "ssf.read"
)

// deliveryPush is RFC 8935 push delivery, the one authd transmits.
const deliveryPush = "urn:ietf:rfc:8935"

// Tokens verifies the receivers' access tokens (provider.Provider): an
// access token of the client_credentials grant, for this issuer, that r
// presents under scheme (Bearer, or DPoP with a proof for a DPoP-bound
// token). A refused token's error may know its challenge (Challenge).
type Tokens interface {
	VerifyAccessToken(r *http.Request, scheme, token string) (clientID string, scopes []string, err error)
}

// Transmitter serves the OpenID Shared Signals 1.0 transmitter: its
// metadata and the stream management API receivers call.
type Transmitter struct {
	svc     *Service
	tokens  Tokens
	jwksURI string
	log     *slog.Logger
}

// NewTransmitter builds the transmitter on svc.
func NewTransmitter(svc *Service, tokens Tokens, jwksURI string, log *slog.Logger) *Transmitter {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Transmitter{svc: svc, tokens: tokens, jwksURI: jwksURI, log: log}
}

// Routes mounts the transmitter's endpoints.
func (t *Transmitter) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+PathSSFConfiguration, t.configuration)
	mux.HandleFunc(PathStreams, t.authorized(t.streams))
	mux.HandleFunc(PathStreamStatus, t.authorized(t.status))
	mux.HandleFunc(PathAddSubject, t.authorized(t.subject(true)))
	mux.HandleFunc(PathRemoveSubject, t.authorized(t.subject(false)))
	mux.HandleFunc(PathVerify, t.authorized(t.verify))
}

// Metadata is the transmitter configuration (SSF 1.0 §7.1).
type Metadata struct {
	SpecVersion              string              `json:"spec_version"`
	Issuer                   string              `json:"issuer"`
	JWKSURI                  string              `json:"jwks_uri"`
	DeliveryMethodsSupported []string            `json:"delivery_methods_supported"`
	ConfigurationEndpoint    string              `json:"configuration_endpoint"`
	StatusEndpoint           string              `json:"status_endpoint"`
	AddSubjectEndpoint       string              `json:"add_subject_endpoint"`
	RemoveSubjectEndpoint    string              `json:"remove_subject_endpoint"`
	VerificationEndpoint     string              `json:"verification_endpoint"`
	AuthorizationSchemes     []map[string]string `json:"authorization_schemes"`
	DefaultSubjects          string              `json:"default_subjects"`
}

func (t *Transmitter) configuration(w http.ResponseWriter, _ *http.Request) {
	iss := t.svc.issuer
	w.Header().Set("Cache-Control", "public, max-age=3600")
	writeJSON(w, http.StatusOK, Metadata{SpecVersion: "1_0", Issuer: iss, JWKSURI: t.jwksURI,
		DeliveryMethodsSupported: []string{deliveryPush},
		ConfigurationEndpoint:    iss + PathStreams, StatusEndpoint: iss + PathStreamStatus,
		AddSubjectEndpoint: iss + PathAddSubject, RemoveSubjectEndpoint: iss + PathRemoveSubject,
		VerificationEndpoint: iss + PathVerify,
		AuthorizationSchemes: []map[string]string{{"spec_urn": "urn:ietf:rfc:6749"}}, DefaultSubjects: "ALL"})
}

// maxRequest bounds a request body.
const maxRequest = 64 << 10

// call is one authenticated request.
type call struct {
	w      http.ResponseWriter
	r      *http.Request
	client string
	body   []byte
}

// authorized checks the bearer token and its scope (ssf.read is enough
// for GET) before h runs, and reads a bounded body.
func (t *Transmitter) authorized(h func(c *call)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		token = strings.TrimSpace(token)
		if !ok || token == "" || (!strings.EqualFold(scheme, "Bearer") && !strings.EqualFold(scheme, "DPoP")) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="ssf"`)
			apiError(w, http.StatusUnauthorized, "invalid_token", "an access token is required (Bearer, or DPoP with a proof)")
			return
		}
		client, scopes, err := t.tokens.VerifyAccessToken(r, scheme, token)
		if err != nil {
			var c interface{ Challenge(realm string) http.Header }
			if errors.As(err, &c) {
				for k, v := range c.Challenge("ssf") {
					w.Header()[k] = v
				}
			} else {
				w.Header().Set("WWW-Authenticate", `Bearer realm="ssf", error="invalid_token"`)
			}
			apiError(w, http.StatusUnauthorized, "invalid_token", "the access token is not valid here")
			return
		}
		need := ScopeStreamsManage
		if r.Method == http.MethodGet {
			need = ScopeStreamsRead
		}
		if !slices.Contains(scopes, need) && !slices.Contains(scopes, ScopeStreamsManage) {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="ssf", error="insufficient_scope", scope=%q`, need))
			apiError(w, http.StatusForbidden, "insufficient_scope", "the access token lacks the scope "+need)
			return
		}
		c := &call{w: w, r: r, client: client}
		if r.Method != http.MethodGet && r.Method != http.MethodDelete {
			body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequest))
			if err != nil {
				apiError(w, http.StatusRequestEntityTooLarge, "invalid_request", "the body is larger than 64 KiB")
				return
			}
			c.body = body
		}
		h(c)
	}
}

// decode reads the JSON body into v, refusing anything else.
func (c *call) decode(v any) bool {
	if ct := c.r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		apiError(c.w, http.StatusUnsupportedMediaType, "invalid_request", "the body must be application/json")
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(c.body))
	if err := dec.Decode(v); err != nil || dec.More() {
		apiError(c.w, http.StatusBadRequest, "invalid_request", "the body is not a JSON object of the expected form")
		return false
	}
	return true
}

// StreamConfiguration is a stream as receivers see it (SSF 1.0 §8.1.1).
type StreamConfiguration struct {
	StreamID                string    `json:"stream_id"`
	Iss                     string    `json:"iss"`
	Aud                     string    `json:"aud"`
	EventsSupported         []string  `json:"events_supported"`
	EventsRequested         []string  `json:"events_requested"`
	EventsDelivered         []string  `json:"events_delivered"`
	Delivery                *Delivery `json:"delivery"`
	MinVerificationInterval int       `json:"min_verification_interval"`
	Description             string    `json:"description,omitempty"`
}

// Delivery is a stream's delivery method. The authorization header is
// write-only.
type Delivery struct {
	Method              string  `json:"method"`
	EndpointURL         string  `json:"endpoint_url"`
	AuthorizationHeader *string `json:"authorization_header,omitempty"`
}

func (t *Transmitter) view(w *storage.Webhook) StreamConfiguration {
	requested := w.Stream.EventsRequested
	if requested == nil {
		requested = []string{}
	}
	return StreamConfiguration{StreamID: w.ID, Iss: t.svc.issuer, Aud: w.ClientID, EventsSupported: StreamEvents,
		EventsRequested: requested, EventsDelivered: w.Events, Delivery: &Delivery{Method: deliveryPush, EndpointURL: w.URL},
		MinVerificationInterval: int(t.svc.cfg.Streams.MinVerificationInterval / 1e9), Description: w.Description}
}

// streamRequest is a create, replace or update body. Pointers tell
// absent from empty.
type streamRequest struct {
	StreamID        string    `json:"stream_id"`
	Iss             *string   `json:"iss"`
	Aud             *string   `json:"aud"`
	Delivery        *Delivery `json:"delivery"`
	EventsRequested *[]string `json:"events_requested"`
	Description     *string   `json:"description"`
	// Transmitter-supplied fields a receiver may echo back.
	EventsSupported         []string `json:"events_supported"`
	EventsDelivered         []string `json:"events_delivered"`
	MinVerificationInterval *int     `json:"min_verification_interval"`
}

// check refuses a body whose transmitter-supplied fields disagree with
// the stream (SSF 1.0 §8.1.1.3) or whose delivery is not push.
func (t *Transmitter) check(c *call, req *streamRequest) bool {
	switch {
	case req.Iss != nil && *req.Iss != t.svc.issuer:
		apiError(c.w, http.StatusBadRequest, "invalid_request", "iss is not this transmitter")
	case req.Aud != nil && *req.Aud != c.client:
		apiError(c.w, http.StatusBadRequest, "invalid_request", "aud is not the calling client")
	case req.Delivery != nil && req.Delivery.Method != "" && req.Delivery.Method != deliveryPush:
		apiError(c.w, http.StatusBadRequest, "invalid_request", "delivery.method must be "+deliveryPush+" (push)")
	default:
		return true
	}
	return false
}

func (t *Transmitter) streams(c *call) {
	switch c.r.Method {
	case http.MethodGet:
		if id := c.r.URL.Query().Get("stream_id"); id != "" {
			st, err := t.svc.Stream(c.r.Context(), c.client, id)
			if t.failed(c, err) {
				return
			}
			writeJSON(c.w, http.StatusOK, t.view(st))
			return
		}
		sts, err := t.svc.Streams(c.r.Context(), c.client)
		if t.failed(c, err) {
			return
		}
		out := make([]StreamConfiguration, len(sts))
		for i, st := range sts {
			out[i] = t.view(st)
		}
		writeJSON(c.w, http.StatusOK, out)
	case http.MethodPost:
		var req streamRequest
		if !c.decode(&req) || !t.check(c, &req) {
			return
		}
		if req.Delivery == nil || req.Delivery.EndpointURL == "" {
			apiError(c.w, http.StatusBadRequest, "invalid_request", "delivery.endpoint_url is required (push delivery)")
			return
		}
		spec := StreamSpec{URL: req.Delivery.EndpointURL}
		if req.Delivery.AuthorizationHeader != nil {
			spec.AuthorizationHeader = *req.Delivery.AuthorizationHeader
		}
		if req.EventsRequested != nil {
			spec.EventsRequested = *req.EventsRequested
		}
		if req.Description != nil {
			spec.Description = *req.Description
		}
		st, err := t.svc.CreateStream(c.r.Context(), c.client, spec)
		if t.failed(c, err) {
			return
		}
		writeJSON(c.w, http.StatusCreated, t.view(st))
	case http.MethodPatch, http.MethodPut:
		var req streamRequest
		if !c.decode(&req) || !t.check(c, &req) {
			return
		}
		if req.StreamID == "" {
			apiError(c.w, http.StatusBadRequest, "invalid_request", "stream_id is required")
			return
		}
		var e StreamEdit
		if d := req.Delivery; d != nil {
			if d.EndpointURL != "" {
				e.URL = &d.EndpointURL
			}
			e.AuthorizationHeader = d.AuthorizationHeader
		}
		e.EventsRequested, e.Description = req.EventsRequested, req.Description
		if c.r.Method == http.MethodPut {
			// A replacement: what is absent is cleared.
			if req.Delivery == nil || req.Delivery.EndpointURL == "" {
				apiError(c.w, http.StatusBadRequest, "invalid_request", "delivery.endpoint_url is required (push delivery)")
				return
			}
			empty, none := []string{}, ""
			if e.EventsRequested == nil {
				e.EventsRequested = &empty
			}
			if e.Description == nil {
				e.Description = &none
			}
			if e.AuthorizationHeader == nil {
				e.AuthorizationHeader = &none
			}
		}
		st, err := t.svc.UpdateStream(c.r.Context(), c.client, req.StreamID, e)
		if t.failed(c, err) {
			return
		}
		writeJSON(c.w, http.StatusOK, t.view(st))
	case http.MethodDelete:
		id := c.r.URL.Query().Get("stream_id")
		if id == "" {
			apiError(c.w, http.StatusBadRequest, "invalid_request", "stream_id is required")
			return
		}
		if t.failed(c, t.svc.DeleteStream(c.r.Context(), c.client, id, "client:"+c.client)) {
			return
		}
		c.w.WriteHeader(http.StatusNoContent)
	default:
		notAllowed(c.w, "GET, POST, PUT, PATCH, DELETE")
	}
}

// statusBody is a stream's status (SSF 1.0 §8.1.2).
type statusBody struct {
	StreamID string `json:"stream_id"`
	Status   string `json:"status"`
	Reason   string `json:"reason,omitempty"`
}

func (t *Transmitter) status(c *call) {
	var id string
	switch c.r.Method {
	case http.MethodGet:
		id = c.r.URL.Query().Get("stream_id")
		if id == "" {
			apiError(c.w, http.StatusBadRequest, "invalid_request", "stream_id is required")
			return
		}
	case http.MethodPost:
		var req statusBody
		if !c.decode(&req) {
			return
		}
		if req.StreamID == "" || req.Status == "" {
			apiError(c.w, http.StatusBadRequest, "invalid_request", "stream_id and status are required")
			return
		}
		if _, err := t.svc.SetStreamStatus(c.r.Context(), c.client, req.StreamID, req.Status, req.Reason, "client:"+c.client); t.failed(c, err) {
			return
		}
		id = req.StreamID
	default:
		notAllowed(c.w, "GET, POST")
		return
	}
	st, err := t.svc.Stream(c.r.Context(), c.client, id)
	if t.failed(c, err) {
		return
	}
	status, reason := streamStatus(st)
	writeJSON(c.w, http.StatusOK, statusBody{StreamID: st.ID, Status: status, Reason: reason})
}

func (t *Transmitter) subject(add bool) func(c *call) {
	return func(c *call) {
		if c.r.Method != http.MethodPost {
			notAllowed(c.w, "POST")
			return
		}
		var req struct {
			StreamID string         `json:"stream_id"`
			Subject  map[string]any `json:"subject"`
			Verified *bool          `json:"verified"`
		}
		if !c.decode(&req) {
			return
		}
		if req.StreamID == "" || req.Subject == nil {
			apiError(c.w, http.StatusBadRequest, "invalid_request", "stream_id and subject are required")
			return
		}
		if t.failed(c, t.svc.SetStreamSubject(c.r.Context(), c.client, req.StreamID, req.Subject, add)) {
			return
		}
		if add {
			c.w.WriteHeader(http.StatusOK)
			return
		}
		c.w.WriteHeader(http.StatusNoContent)
	}
}

func (t *Transmitter) verify(c *call) {
	if c.r.Method != http.MethodPost {
		notAllowed(c.w, "POST")
		return
	}
	var req struct {
		StreamID string `json:"stream_id"`
		State    string `json:"state"`
	}
	if !c.decode(&req) {
		return
	}
	if req.StreamID == "" {
		apiError(c.w, http.StatusBadRequest, "invalid_request", "stream_id is required")
		return
	}
	if t.failed(c, t.svc.VerifyStream(c.r.Context(), c.client, req.StreamID, req.State)) {
		return
	}
	c.w.WriteHeader(http.StatusNoContent)
}

// failed answers err, when there is one, with its status.
func (t *Transmitter) failed(c *call, err error) bool {
	var in *InputError
	var soon *TooSoonError
	var subj *SubjectError
	switch {
	case err == nil:
		return false
	case errors.Is(err, storage.ErrNotFound):
		apiError(c.w, http.StatusNotFound, "not_found", "no such stream for this client")
	case errors.As(err, &in):
		apiError(c.w, http.StatusBadRequest, "invalid_request", in.Error())
	case errors.As(err, &subj):
		apiError(c.w, http.StatusBadRequest, "invalid_request", subj.Error())
	case errors.As(err, &soon):
		c.w.Header().Set("Retry-After", strconv.Itoa(int(soon.Wait.Seconds())+1))
		apiError(c.w, http.StatusTooManyRequests, "too_many_requests", soon.Error())
	case errors.Is(err, ErrTooManyStreams):
		apiError(c.w, http.StatusConflict, "conflict", err.Error())
	default:
		t.log.ErrorContext(c.r.Context(), "ssf: request failed", "path", c.r.URL.Path, "err", err)
		apiError(c.w, http.StatusInternalServerError, "server_error", "the request could not be completed")
	}
	return true
}

// notAllowed answers 405 with the methods the path takes.
func notAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	apiError(w, http.StatusMethodNotAllowed, "invalid_request", "method not allowed")
}

func apiError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
