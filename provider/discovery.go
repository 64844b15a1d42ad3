package provider

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/authd/authd/internal/i18n"
)

// metadata is the authorization server metadata (RFC 8414 §2), which OpenID
// Connect Discovery 1.0 §3 extends. Prepared once at start: the endpoints
// never change while the process runs.
type metadata struct {
	Issuer                                     string   `json:"issuer"`
	AuthorizationEndpoint                      string   `json:"authorization_endpoint,omitempty"`
	UserInfoEndpoint                           string   `json:"userinfo_endpoint,omitempty"`
	EndSessionEndpoint                         string   `json:"end_session_endpoint,omitempty"`
	TokenEndpoint                              string   `json:"token_endpoint"`
	JWKSURI                                    string   `json:"jwks_uri"`
	IntrospectionEndpoint                      string   `json:"introspection_endpoint"`
	RevocationEndpoint                         string   `json:"revocation_endpoint"`
	RegistrationEndpoint                       string   `json:"registration_endpoint,omitempty"`
	ScopesSupported                            []string `json:"scopes_supported"`
	ResponseTypesSupported                     []string `json:"response_types_supported"`
	ResponseModesSupported                     []string `json:"response_modes_supported"`
	GrantTypesSupported                        []string `json:"grant_types_supported"`
	SubjectTypesSupported                      []string `json:"subject_types_supported,omitempty"`
	IDTokenSigningAlgValuesSupported           []string `json:"id_token_signing_alg_values_supported,omitempty"`
	TokenEndpointAuthMethodsSupported          []string `json:"token_endpoint_auth_methods_supported"`
	TokenEndpointAuthSigningAlgValuesSupported []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	IntrospectionEndpointAuthMethodsSupported  []string `json:"introspection_endpoint_auth_methods_supported"`
	IntrospectionEndpointAuthSigningAlgValues  []string `json:"introspection_endpoint_auth_signing_alg_values_supported"`
	RevocationEndpointAuthMethodsSupported     []string `json:"revocation_endpoint_auth_methods_supported"`
	RevocationEndpointAuthSigningAlgValues     []string `json:"revocation_endpoint_auth_signing_alg_values_supported"`
	CodeChallengeMethodsSupported              []string `json:"code_challenge_methods_supported"`
	ClaimsSupported                            []string `json:"claims_supported,omitempty"`
	AuthorizationResponseISSParameterSupported bool     `json:"authorization_response_iss_parameter_supported"`
	AccessTokenSigningAlgValuesSupported       []string `json:"access_token_signing_alg_values_supported,omitempty"`
	PromptValuesSupported                      []string `json:"prompt_values_supported,omitempty"`
	ClaimsParameterSupported                   bool     `json:"claims_parameter_supported"`
	RequestParameterSupported                  bool     `json:"request_parameter_supported"`
	RequestURIParameterSupported               bool     `json:"request_uri_parameter_supported"`
	RequestObjectSigningAlgValuesSupported     []string `json:"request_object_signing_alg_values_supported,omitempty"`
	PushedAuthorizationRequestEndpoint         string   `json:"pushed_authorization_request_endpoint,omitempty"`
	DeviceAuthorizationEndpoint                string   `json:"device_authorization_endpoint,omitempty"`
	RequirePushedAuthorizationRequests         bool     `json:"require_pushed_authorization_requests,omitempty"`
	BackchannelLogoutSupported                 bool     `json:"backchannel_logout_supported,omitempty"`
	BackchannelLogoutSessionSupported          bool     `json:"backchannel_logout_session_supported,omitempty"`
	UILocalesSupported                         []string `json:"ui_locales_supported,omitempty"`
	DPoPSigningAlgValuesSupported              []string `json:"dpop_signing_alg_values_supported"`
}

// clientAssertionAlgs are the algorithms accepted for private_key_jwt.
var clientAssertionAlgs = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

func (p *Provider) prepareDiscovery() error {
	iss := p.cfg.Issuer
	authMethods := []string{"client_secret_basic", "client_secret_post", "private_key_jwt"}
	m := metadata{
		Issuer:                                     iss,
		TokenEndpoint:                              iss + PathToken,
		JWKSURI:                                    iss + PathJWKS,
		IntrospectionEndpoint:                      iss + PathIntrospect,
		RevocationEndpoint:                         iss + PathRevoke,
		ScopesSupported:                            []string{"openid", "profile", "email", "phone", "offline_access"},
		ResponseTypesSupported:                     []string{"code"},
		ResponseModesSupported:                     []string{"query", "form_post"},
		GrantTypesSupported:                        []string{"authorization_code", "refresh_token", "client_credentials", GrantTokenExchange},
		SubjectTypesSupported:                      []string{"public"},
		IDTokenSigningAlgValuesSupported:           []string{p.cfg.Keys.Algorithm},
		TokenEndpointAuthMethodsSupported:          append(authMethods, "none"),
		TokenEndpointAuthSigningAlgValuesSupported: clientAssertionAlgs,
		IntrospectionEndpointAuthMethodsSupported:  authMethods,
		IntrospectionEndpointAuthSigningAlgValues:  clientAssertionAlgs,
		RevocationEndpointAuthMethodsSupported:     append(authMethods, "none"),
		RevocationEndpointAuthSigningAlgValues:     clientAssertionAlgs,
		CodeChallengeMethodsSupported:              []string{"S256"},
		AuthorizationResponseISSParameterSupported: true,
		AccessTokenSigningAlgValuesSupported:       []string{p.cfg.Keys.Algorithm},
		DPoPSigningAlgValuesSupported:              dpopAlgNames(), // RFC 9449 §5.1
	}
	if p.registrar != nil {
		m.RegistrationEndpoint = iss + PathRegister
	}
	if p.browser != nil {
		m.AuthorizationEndpoint = iss + PathAuthorize
		m.PushedAuthorizationRequestEndpoint, m.RequirePushedAuthorizationRequests = iss+PathPAR, p.cfg.Authorize.RequirePushed
		m.UserInfoEndpoint = iss + PathUserInfo
		m.DeviceAuthorizationEndpoint = iss + PathDeviceAuthorization // RFC 8628 §4
		m.GrantTypesSupported = append(m.GrantTypesSupported, GrantDeviceCode)
		m.EndSessionEndpoint = iss + PathLogout
		m.PromptValuesSupported = []string{"none", "login", "consent", "select_account"}
		m.BackchannelLogoutSupported, m.BackchannelLogoutSessionSupported = true, true
		m.UILocalesSupported = i18n.Names() // the hosted pages' catalogues (internal/i18n)
		m.ClaimsParameterSupported = true
		m.RequestParameterSupported, m.RequestObjectSigningAlgValuesSupported = true, clientAssertionAlgs // RFC 9101
		m.ClaimsSupported = []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid", "at_hash",
			"name", "picture", "locale", "updated_at", "email", "email_verified", "phone_number", "phone_number_verified", "enterprise"}
	}
	var err error
	if p.discovery, err = json.Marshal(m); err != nil {
		return err
	}
	// RFC 8414 metadata leaves out the OpenID-only members.
	m.SubjectTypesSupported, m.IDTokenSigningAlgValuesSupported, m.ClaimsSupported = nil, nil, nil
	m.UserInfoEndpoint, m.EndSessionEndpoint, m.PromptValuesSupported = "", "", nil
	m.BackchannelLogoutSupported, m.BackchannelLogoutSessionSupported = false, false
	m.ClaimsParameterSupported = false
	p.oauthMetadata, err = json.Marshal(m)
	return err
}

func (p *Provider) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	serveStatic(w, r, p.discovery, "")
}

func (p *Provider) handleOAuthMetadata(w http.ResponseWriter, r *http.Request) {
	serveStatic(w, r, p.oauthMetadata, "")
}

func (p *Provider) handleJWKS(w http.ResponseWriter, r *http.Request) {
	ks := p.keys.Load()
	serveStatic(w, r, ks.jwks, ks.jwksETag)
}

// serveStatic writes a prepared JSON document for GET and HEAD, with an
// ETag when given (so caches can revalidate after a key rotation).
func serveStatic(w http.ResponseWriter, r *http.Request, body []byte, etag string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "public, max-age=60")
	h.Set("Access-Control-Allow-Origin", "*")
	if etag != "" {
		h.Set("ETag", etag)
		if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(body)
}
