// Package storage holds authd's domain types, the sentinel errors every
// backend maps its driver errors to, and the storage contracts that the
// conformance suite in storagetest exercises on every backend.
//
// Token state follows fosite's storage contracts (handler/oauth2.CoreStorage,
// pkce.PKCERequestStorage, openid.OpenIDConnectRequestStorage): backends key
// it by the token's signature hash, never by the raw token.
package storage
