package redis

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/redis/rueidis"
)

// Supported URL schemes; see the package documentation for their forms.
const (
	schemeRedis          = "redis"
	schemeRedisTLS       = "rediss"
	schemeSentinel       = "redis-sentinel"
	schemeSentinelTLS    = "rediss-sentinel"
	schemeCluster        = "redis-cluster"
	schemeClusterTLS     = "rediss-cluster"
	defaultPort          = "6379"
	defaultSentinelPort  = "26379"
	supportedSchemesHint = "redis://, rediss://, redis-sentinel://, rediss-sentinel://, redis-cluster:// or rediss-cluster://"
)

// parseURL turns one of the supported URL forms into rueidis options.
// Errors never contain the password.
func parseURL(raw string) (rueidis.ClientOption, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return rueidis.ClientOption{}, fmt.Errorf("redis url: want %s, got %q", supportedSchemesHint, redactURL(raw))
	}
	switch scheme {
	case schemeRedis, schemeRedisTLS:
		return parseSingle(raw)
	case schemeSentinel, schemeSentinelTLS, schemeCluster, schemeClusterTLS:
		return parseMulti(scheme, rest)
	default:
		return rueidis.ClientOption{}, fmt.Errorf("redis url: unsupported scheme %q: want %s", scheme, supportedSchemesHint)
	}
}

// parseSingle handles redis:// and rediss:// with rueidis's parser (which
// also reads its query options such as dial_timeout and client_name), and
// refuses what would defeat authd's use of Redis.
func parseSingle(raw string) (rueidis.ClientOption, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return rueidis.ClientOption{}, fmt.Errorf("redis url %q: %w", redactURL(raw), errors.Unwrap(err))
	}
	if u.Host == "" {
		return rueidis.ClientOption{}, fmt.Errorf("redis url %q: missing host", redactURL(raw))
	}
	q := u.Query()
	if q.Has("addr") {
		return rueidis.ClientOption{}, fmt.Errorf("redis url %q: for several nodes use redis-cluster://host:port,host:port", redactURL(raw))
	}
	if q.Has("master_set") {
		return rueidis.ClientOption{}, fmt.Errorf("redis url %q: for Sentinel use redis-sentinel://host:port,host:port/master-name", redactURL(raw))
	}
	if err := checkQuery(q); err != nil {
		return rueidis.ClientOption{}, fmt.Errorf("redis url %q: %w", redactURL(raw), err)
	}
	opt, err := rueidis.ParseURL(raw)
	if err != nil {
		return rueidis.ClientOption{}, fmt.Errorf("redis url %q: %s", redactURL(raw), strings.TrimPrefix(err.Error(), "redis: "))
	}
	return opt, nil
}

// checkQuery refuses options that switch off RESP3 client-side caching,
// which the revocation set relies on.
func checkQuery(q url.Values) error {
	if q.Get("protocol") == "2" {
		return errors.New("protocol=2 is not supported: authd needs RESP3 for client-side caching")
	}
	if q.Get("client_cache") == "0" {
		return errors.New("client_cache=0 is not supported: authd needs client-side caching")
	}
	return nil
}

// parseMulti handles the Sentinel and Cluster forms, whose authority is a
// comma-separated list of host:port:
//
//	redis-sentinel://[[user]:password@]host[:port][,host[:port]...]/master-name[/db][?sentinel_username=U&sentinel_password=P]
//	redis-cluster://[[user]:password@]host[:port][,host[:port]...][?...]
func parseMulti(scheme, rest string) (rueidis.ClientOption, error) {
	raw := scheme + "://" + rest
	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	userinfo, hostlist := "", authority
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		userinfo, hostlist = authority[:i+1], authority[i+1:]
	}
	sentinel := scheme == schemeSentinel || scheme == schemeSentinelTLS
	port := defaultPort
	if sentinel {
		port = defaultSentinelPort
	}
	var addrs []string
	for _, h := range strings.Split(hostlist, ",") {
		addr, err := normalizeAddr(h, port)
		if err != nil {
			return rueidis.ClientOption{}, fmt.Errorf("redis url %q: %w", redactURL(raw), err)
		}
		addrs = append(addrs, addr)
	}
	// Let rueidis's parser read the credentials, TLS and query options
	// from a single-node URL; the path (master name, db) is ours.
	u, err := url.Parse("redis://" + userinfo + addrs[0] + tail)
	if err != nil {
		return rueidis.ClientOption{}, fmt.Errorf("redis url %q: %w", redactURL(raw), errors.Unwrap(err))
	}
	q := u.Query()
	if q.Has("addr") || q.Has("master_set") || q.Has("db") {
		return rueidis.ClientOption{}, fmt.Errorf("redis url %q: addr, master_set and db are not query options of %s://", redactURL(raw), scheme)
	}
	if err := checkQuery(q); err != nil {
		return rueidis.ClientOption{}, fmt.Errorf("redis url %q: %w", redactURL(raw), err)
	}
	var master, db string
	path := strings.Trim(u.Path, "/")
	if sentinel {
		master, db, _ = strings.Cut(path, "/")
		if master == "" {
			return rueidis.ClientOption{}, fmt.Errorf("redis url %q: missing master name: redis-sentinel://host:port,host:port/master-name", redactURL(raw))
		}
	} else if path != "" {
		return rueidis.ClientOption{}, fmt.Errorf("redis url %q: a cluster has no database number", redactURL(raw))
	}
	u.Path = ""
	if db != "" {
		u.Path = "/" + db
	}
	if strings.HasPrefix(scheme, "rediss") {
		u.Scheme = schemeRedisTLS
	}
	sentinelUser, sentinelPass := q.Get("sentinel_username"), q.Get("sentinel_password")
	q.Del("sentinel_username")
	q.Del("sentinel_password")
	u.RawQuery = q.Encode()
	opt, err := rueidis.ParseURL(u.String())
	if err != nil {
		return rueidis.ClientOption{}, fmt.Errorf("redis url %q: %s", redactURL(raw), strings.TrimPrefix(err.Error(), "redis: "))
	}
	opt.InitAddress = addrs
	if opt.TLSConfig != nil {
		// Several hosts: let each connection verify the name it dialled.
		opt.TLSConfig.ServerName = ""
	}
	if sentinel {
		opt.Sentinel.MasterSet = master
		opt.Sentinel.Username, opt.Sentinel.Password = sentinelUser, sentinelPass
		if opt.TLSConfig != nil {
			opt.Sentinel.TLSConfig = opt.TLSConfig.Clone()
		}
	}
	return opt, nil
}

func normalizeAddr(h, defPort string) (string, error) {
	if h == "" {
		return "", errors.New("empty host in the host list")
	}
	host, port, err := net.SplitHostPort(h)
	if err != nil {
		// No port: host alone (an IPv6 literal must be bracketed).
		host, port = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"), defPort
		if strings.ContainsAny(host, "[]") {
			return "", fmt.Errorf("bad host %q", h)
		}
	}
	if host == "" {
		return "", fmt.Errorf("bad host %q", h)
	}
	return net.JoinHostPort(host, port), nil
}

// redactURL hides the passwords of a URL, whatever its form: the one in
// the authority, and any query option naming a password.
func redactURL(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		if strings.Contains(raw, "@") || strings.Contains(raw, "password") {
			return "<unparseable URL>"
		}
		return raw
	}
	if q := strings.Index(rest, "?"); q >= 0 && strings.Contains(rest[q:], "password") {
		rest = rest[:q] + "?<redacted>"
	}
	end := len(rest)
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		end = i
	}
	at := strings.LastIndex(rest[:end], "@")
	if at < 0 {
		return scheme + "://" + rest
	}
	user, _, hasPass := strings.Cut(rest[:at], ":")
	if hasPass {
		user += ":xxxxx"
	}
	return scheme + "://" + user + rest[at:]
}
