package login

import (
	"github.com/authd/authd/internal/i18n"
	"strings"
	"time"
)

// describeDevice names a User-Agent in plain words: "Firefox on Windows".
// Order matters: Edge and Opera also say Chrome, Chrome also says Safari.
func describeDevice(ua string) i18n.Msg {
	browser := ""
	for _, b := range []struct{ token, name string }{
		{"Edg/", "Edge"}, {"EdgA/", "Edge"}, {"EdgiOS/", "Edge"},
		{"OPR/", "Opera"}, {"Opera", "Opera"},
		{"SamsungBrowser/", "Samsung Internet"},
		{"Firefox/", "Firefox"}, {"FxiOS/", "Firefox"},
		{"CriOS/", "Chrome"}, {"Chrome/", "Chrome"}, {"Chromium/", "Chromium"},
		{"Version/", "Safari"},
		{"curl/", "curl"},
	} {
		if strings.Contains(ua, b.token) {
			browser = b.name
			break
		}
	}
	system := ""
	for _, s := range []struct{ token, name string }{
		{"iPhone", "iPhone"}, {"iPad", "iPad"}, {"Android", "Android"},
		{"Windows", "Windows"}, {"CrOS", "ChromeOS"}, {"Mac OS X", "macOS"}, {"Macintosh", "macOS"},
		{"Linux", "Linux"},
	} {
		if strings.Contains(ua, s.token) {
			system = s.name
			break
		}
	}
	switch {
	case browser != "" && system != "":
		return i18n.M("%s on %s", browser, system)
	case browser != "":
		return i18n.M("%s", browser)
	case system != "":
		return i18n.M("A browser on %s", system)
	}
	return i18n.M("Unknown device")
}

// ago says how long before now t was, in words.
func ago(now, t time.Time) i18n.Msg {
	d := now.Sub(t)
	switch {
	case t.IsZero():
		return i18n.M("unknown")
	case d < time.Minute:
		return i18n.M("just now")
	case d < time.Hour:
		return i18n.Ago(int64(d/time.Minute), "minute")
	case d < 24*time.Hour:
		return i18n.Ago(int64(d/time.Hour), "hour")
	}
	return i18n.Ago(int64(d/(24*time.Hour)), "day")
}
