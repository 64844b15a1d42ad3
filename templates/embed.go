// Package templates holds the hosted pages: html/template files embedded
// with embed.FS, the data each page takes, and the Renderer that executes
// them inside the base layout with the data every page shares (CSRF token,
// request id, language).
//
// Pages and their data:
//
//	login            LoginData
//	register         RegisterData
//	check_email      CheckEmailData
//	verify_email     VerifyEmailData
//	forgot_password  ForgotPasswordData
//	reset_password   ResetPasswordData
//	consent          ConsentData
//	account          AccountData
//	signed_out       SignedOutData
//	error            ErrorData
//	logout_confirm   LogoutConfirmData
//
// The labels people and browser tests look for are part of the contract
// (docs/architecture.md): login has "Email", "Password", "Sign in";
// registration "Email", "Password", "Create account"; consent "Allow" and
// "Deny"; logout confirmation "Sign out".
//
// The pages use no script and no inline style, so they work under a
// Content-Security-Policy without 'unsafe-inline' and without JavaScript.
package templates

import "embed"

//go:embed *.html
var files embed.FS
