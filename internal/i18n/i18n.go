// Package i18n holds the message catalogues of the hosted pages and mails
// and chooses the language of a request.
//
// Messages are keyed by their English text, a fmt format ("Wait %s and
// try again."): English is the source language, and a key missing from
// a catalogue prints as its English text. The German and French
// catalogues live in de.go and fr.go; catalogue_test.go fails when either
// misses a key of the other or of English (keys.go), or a translation's
// verbs do not match its key's.
//
// The language of a page is, in order: the first supported tag of the
// authorization request's ui_locales (OpenID Connect Core §3.1.2.1), the
// best supported match of Accept-Language (q-values honoured), the
// configured default (i18n.default_locale), English.
package i18n

import (
	"fmt"
	"strings"

	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"golang.org/x/text/message/catalog"
)

// Supported are the languages with a complete catalogue, English first.
var Supported = []language.Tag{language.English, language.German, language.French}

// translations are the catalogues other than English, by tag.
var translations = map[language.Tag]map[string]string{
	language.German: de,
	language.French: fr,
}

var (
	matcher = language.NewMatcher(Supported)
	cat     = func() catalog.Catalog {
		b := catalog.NewBuilder(catalog.Fallback(language.English))
		for _, k := range Keys {
			if err := b.SetString(language.English, k, k); err != nil {
				panic(err) // the catalogue is ours: a test would have failed
			}
		}
		for tag, m := range translations {
			for k, v := range m {
				if err := b.SetString(tag, k, v); err != nil {
					panic(err)
				}
			}
		}
		return b
	}()
	printers = func() map[language.Tag]*message.Printer {
		m := map[language.Tag]*message.Printer{}
		for _, t := range Supported {
			m[t] = message.NewPrinter(t, message.Catalog(cat))
		}
		return m
	}()
)

// Config is the i18n section of the configuration.
type Config struct {
	// DefaultLocale is the language of a request that asks for none that
	// authd has (ui_locales, Accept-Language): en, de or fr.
	DefaultLocale string `koanf:"default_locale"`
}

// DefaultConfig is English.
func DefaultConfig() Config { return Config{DefaultLocale: "en"} }

// Validate names the key of every problem.
func (c Config) Validate() error {
	if c.DefaultLocale == "" {
		return nil
	}
	if _, ok := supported(c.DefaultLocale); !ok {
		return fmt.Errorf("i18n.default_locale: %q is not one of %s", c.DefaultLocale, strings.Join(Names(), ", "))
	}
	return nil
}

// Default returns the configured default language (English when unset).
func (c Config) Default() language.Tag {
	if t, ok := supported(c.DefaultLocale); ok {
		return t
	}
	return language.English
}

// Names returns the supported tags as strings (ui_locales_supported).
func Names() []string {
	out := make([]string, len(Supported))
	for i, t := range Supported {
		out[i] = t.String()
	}
	return out
}

// supported returns the supported language exactly named s.
func supported(s string) (language.Tag, bool) {
	for _, t := range Supported {
		if strings.EqualFold(t.String(), s) {
			return t, true
		}
	}
	return language.Und, false
}

// Bounds on what a request may make us parse.
const (
	maxUILocales      = 128  // as provider bounds the parameter
	maxAcceptLanguage = 1024 // larger headers are ignored, not parsed
	maxTags           = 16
)

// Choose returns the language of a request: the first ui_locales tag
// (space-separated BCP 47) authd supports, else the best match of the
// Accept-Language header, else def. Malformed or oversized input counts as
// absent; it never fails.
func Choose(uiLocales, acceptLanguage string, def language.Tag) language.Tag {
	if len(uiLocales) <= maxUILocales {
		for i, s := range strings.Fields(uiLocales) {
			if i >= maxTags {
				break
			}
			t, err := language.Parse(s)
			if err != nil {
				continue
			}
			if _, idx, conf := matcher.Match(t); conf != language.No {
				return Supported[idx]
			}
		}
	}
	if acceptLanguage != "" && len(acceptLanguage) <= maxAcceptLanguage {
		tags, _, err := language.ParseAcceptLanguage(acceptLanguage)
		if err == nil && len(tags) > 0 {
			if len(tags) > maxTags {
				tags = tags[:maxTags]
			}
			// Match each in preference order: the first the catalogue has
			// wins, so "fr;q=0.9, xx" is French and "de-CH, fr" German.
			for _, t := range tags {
				if _, idx, conf := matcher.Match(t); conf != language.No {
					return Supported[idx]
				}
			}
		}
	}
	return def
}

// Printer returns the printer of tag, English for a tag without a
// catalogue.
func Printer(tag language.Tag) *message.Printer {
	if p, ok := printers[tag]; ok {
		return p
	}
	return printers[language.English]
}

// Localizer is an argument that depends on the language (a duration in
// words): T formats it for the printer's language first.
type Localizer interface {
	Localize(p *message.Printer) string
}

// Msg is a message and its arguments, to be translated where the language
// is known (at rendering).
type Msg struct {
	Key  string
	Args []any
}

// M returns a Msg.
func M(key string, args ...any) Msg { return Msg{Key: key, Args: args} }

// Localize translates m.
func (m Msg) Localize(p *message.Printer) string { return T(p, m.Key, m.Args...) }

// String is m in English.
func (m Msg) String() string { return m.Localize(Printer(language.English)) }

// T translates key with args; Localizer args are localized first.
func T(p *message.Printer, key string, args ...any) string {
	if len(args) == 0 {
		return p.Sprintf(message.Key(key, key))
	}
	as := make([]any, len(args))
	for i, a := range args {
		if l, ok := a.(Localizer); ok {
			as[i] = l.Localize(p)
		} else {
			as[i] = a
		}
	}
	return p.Sprintf(message.Key(key, key), as...)
}

// Count is n of unit ("second", "minute", "hour", "day") in words: "1
// minute", "5 minutes".
func Count(n int64, unit string) Msg {
	if n == 1 {
		return M("1 " + unit)
	}
	return M("%d "+unit+"s", n)
}

// Ago is n units before now in words: "1 hour ago", "3 hours ago".
func Ago(n int64, unit string) Msg {
	if n == 1 {
		return M("1 " + unit + " ago")
	}
	return M("%d "+unit+"s ago", n)
}
