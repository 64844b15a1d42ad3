// Package templates holds the hosted pages' html/template files, embedded.
// The data each page takes and the Renderer that executes them live in
// internal/render; the labels people and browser tests look for are part
// of the contract (docs/architecture.md).
//
// The pages use no script and no inline style, so they work under a
// Content-Security-Policy without 'unsafe-inline' and without JavaScript.
package templates

import "embed"

// FS holds every page and the base layout (layout.html).
//
//go:embed *.html
var FS embed.FS
