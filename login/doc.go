// Package login serves the hosted pages people use in a browser: sign-in,
// registration and email verification, password reset, consent, and the
// account page (profile, password, sessions, applications).
//
// # Steps of an authorization request
//
// The provider owns /oauth2/authorize. When a person must sign in or
// consent it stores a storage.AuthRequest and sends the browser here with
// ?ar=<id>. Each step does one thing to the stored request and returns to
// the provider; steps never call each other:
//
//	provider ──303──▶ /login?ar=ID    ──POST ok──▶ AuthRequest.SessionID, LoginAt    ──303──▶ /oauth2/authorize/resume?ar=ID
//	provider ──303──▶ /consent?ar=ID  ──Allow────▶ ConsentGiven, GrantedScopes      ──303──▶ /oauth2/authorize/resume?ar=ID
//	                                  ──Deny─────▶ ConsentDenied                    ──303──▶ /oauth2/authorize/resume?ar=ID
//
// A device's request (RFC 8628) starts on /device instead: the typed user
// code names a pending device code, and the page stores a request with id
// prefix storage.DeviceAuthRequestPrefix for the same steps; the provider
// always asks consent for it and, once decided, sends the browser to
// /device/done.
//
// Registration and "Forgot password?" leave the sign-in for a mail: the
// browser remembers ar in the authd_flow cookie (the links carry only
// their token), so that the link, opened in that browser while the
// request is open, leads back to /login?ar=ID.
//
// An unknown or expired ar is an error page; nothing is changed. /consent
// needs the browser's session (the one that signed in during this request,
// when one did); without it the person is sent to /login?ar=ID.
//
// # Routes
//
//	GET  /login                 sign-in form (?ar=, ?return_to=, ?notice=)
//	POST /login                 authenticate; start the session
//	GET  /register              registration form (?ar=)
//	POST /register              register; "check your email"
//	GET  /verify-email          verify the address (?token=)
//	POST /verify-email/resend   send a new verification link
//	GET  /forgot-password       reset request form (?ar=)
//	POST /forgot-password       send a reset link (the same answer whether or not the address has an account)
//	GET  /reset-password        new password form (?token=)
//	POST /reset-password        set the new password; on to /login (?ar= of the remembered sign-in)
//	GET  /consent               consent form (?ar=)
//	POST /consent               Allow or Deny
//	GET  /device                device verification form (RFC 8628; ?user_code= prefills it)
//	POST /device                take the code: store a dev.… request, hand it to the provider
//	GET  /device/done           "You may return to your device" (?result=approved|denied)
//	GET  /account               profile, password, sessions, applications
//	POST /account/profile       save the profile
//	POST /account/password      change the password
//	POST /account/sessions/end  end one session (sid)
//	POST /account/sessions/end-all  end every session, this one included
//	POST /account/consents/revoke   revoke an application (client_id)
//	GET  /signed-out            "You have signed out."
//	GET  /static/               stylesheet
//
// Every POST passes the csrf checks (origin and token) and is capped at 64
// KiB; every page carries a strict Content-Security-Policy (without
// form-action, which Chrome would apply to the redirect to the client).
// Errors never say whether an email address has an account.
package login
