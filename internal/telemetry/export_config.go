package telemetry

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/getsentry/sentry-go"
)

// ExportConfig is the telemetry section of authd's configuration
// (config.example.yaml: telemetry.*): where traces and errors go. Both are
// off by default.
type ExportConfig struct {
	// OTLPEndpoint, when set, turns tracing on and sends spans there over
	// OTLP/HTTP (protobuf): a collector's base URL ("http://otelcol:4318",
	// to which /v1/traces is added) or the full traces URL (any other
	// path, used as is).
	OTLPEndpoint string `koanf:"otlp_endpoint"`
	// SamplingRatio is the share of traces started here that are kept,
	// 0 to 1; a request whose caller's traceparent says sampled (or not)
	// follows its caller (parent-based).
	SamplingRatio float64 `koanf:"sampling_ratio"`
	// ServiceName is the service.name of every span.
	ServiceName string `koanf:"service_name"`
	// SentryDSN, when set, reports panics, 5xx answers and failed jobs to
	// Sentry (or anything that speaks its protocol), scrubbed of secrets.
	SentryDSN string `koanf:"sentry_dsn"`
	// SentryEnvironment tags every Sentry event ("production",
	// "staging"); empty: none.
	SentryEnvironment string `koanf:"sentry_environment"`
}

// DefaultExportConfig returns the defaults: no tracing, no Sentry; when
// tracing is turned on, every trace started here is kept.
func DefaultExportConfig() ExportConfig {
	return ExportConfig{SamplingRatio: 1, ServiceName: "authd"}
}

// Validate reports every problem, each naming its key. It never shows the
// DSN, whose key is a credential.
func (c ExportConfig) Validate() error {
	var errs []error
	if c.OTLPEndpoint != "" {
		if _, err := otlpTracesURL(c.OTLPEndpoint); err != nil {
			errs = append(errs, fmt.Errorf("telemetry.otlp_endpoint: %w", err))
		}
	}
	if !(c.SamplingRatio >= 0 && c.SamplingRatio <= 1) { // also NaN
		errs = append(errs, fmt.Errorf("telemetry.sampling_ratio: want a number from 0 to 1, got %v", c.SamplingRatio))
	}
	if strings.TrimSpace(c.ServiceName) == "" {
		errs = append(errs, errors.New("telemetry.service_name: must not be empty"))
	}
	if c.SentryDSN != "" {
		if _, err := sentry.NewDsn(c.SentryDSN); err != nil {
			errs = append(errs, errors.New("telemetry.sentry_dsn: not a Sentry DSN; want https://PUBLIC_KEY@HOST/PROJECT_ID"))
		}
	}
	return errors.Join(errs...)
}

// otlpTracesURL returns the URL spans are posted to.
func otlpTracesURL(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("want an http:// or https:// URL such as http://otelcol:4318, got %q", endpoint)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", errors.New("want a URL without user info, query or fragment (set collector headers with OTEL_EXPORTER_OTLP_HEADERS)")
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1/traces"
	}
	return u.String(), nil
}
