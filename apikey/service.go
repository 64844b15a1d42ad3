package apikey

import (
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/authd/authd/audit"
	"github.com/authd/authd/storage"
)

// Store is what the service needs of storage (storage/sql.Store).
type Store interface {
	storage.APIKeys
	BeginTX(ctx context.Context) (context.Context, error)
	Commit(ctx context.Context) error
	Rollback(ctx context.Context) error
	AppendAuditEvent(ctx context.Context, e storage.AuditEvent) error
}

// MACer keys the stored hashes (*secrets.Keyring).
type MACer interface {
	MAC(purpose string, data []byte) []byte
	MACWith(keyID, purpose string, data []byte) ([]byte, bool)
	CurrentKeyID() string
}

const macPurpose = "apikey"

// Config is the api_keys section.
type Config struct {
	// DefaultLifetime is the lifetime of a key created without one.
	DefaultLifetime time.Duration `koanf:"default_lifetime"`
	// MaxLifetime bounds every key's lifetime: keys always expire.
	MaxLifetime time.Duration `koanf:"max_lifetime"`
	// CacheSize is how many keys each instance keeps in memory.
	CacheSize int `koanf:"cache_size"`
	// TouchInterval is how often last-use times are written.
	TouchInterval time.Duration `koanf:"touch_interval"`
}

// DefaultConfig: keys live 90 days unless told otherwise, at most a year.
func DefaultConfig() Config {
	return Config{DefaultLifetime: 90 * 24 * time.Hour, MaxLifetime: 366 * 24 * time.Hour, CacheSize: 10000,
		TouchInterval: 30 * time.Second}
}

// Validate reports settings that cannot work.
func (c Config) Validate() error {
	var errs []error
	if c.MaxLifetime <= 0 {
		errs = append(errs, errors.New("admin.api_keys.max_lifetime must be positive"))
	}
	if c.DefaultLifetime <= 0 || c.DefaultLifetime > c.MaxLifetime {
		errs = append(errs, errors.New("admin.api_keys.default_lifetime must be positive and at most admin.api_keys.max_lifetime"))
	}
	if c.CacheSize < 1 {
		errs = append(errs, errors.New("admin.api_keys.cache_size must be at least 1"))
	}
	if c.TouchInterval <= 0 {
		errs = append(errs, errors.New("admin.api_keys.touch_interval must be positive"))
	}
	return errors.Join(errs...)
}

// Why a key was refused. Every one is a 401 to the caller; the reason is
// for the log and the problem document's detail.
var (
	ErrUnknown = errors.New("apikey: no such key")
	ErrExpired = errors.New("apikey: the key expired")
	ErrRevoked = errors.New("apikey: the key was revoked")
)

// InputError is a key specification authd refuses; Field names the field.
type InputError struct {
	Field, Reason string
}

func (e *InputError) Error() string { return e.Field + ": " + e.Reason }

// Spec is a key to create.
type Spec struct {
	Name   string
	Scopes []string
	Tier   string
	// ExpiresIn is the key's lifetime; zero: Config.DefaultLifetime.
	ExpiresIn time.Duration
	// NotAfter, when set, caps the expiry: a key made by another key
	// expires no later than its creator.
	NotAfter time.Time
}

// Service creates, checks and revokes keys. Checking a key costs no
// database query once the key is cached; every instance drops a cached
// key when the change feed says it changed (Changed), and last use is
// written in batches (Run).
type Service struct {
	cfg   Config
	store Store
	mac   MACer
	tiers func(string) bool
	log   *slog.Logger
	now   func() time.Time
	// cache maps id to the stored key, or nil for an id known absent.
	cache *lru.Cache[string, *storage.APIKey]
	// addresses holds "id ip" pairs this process has recorded.
	addresses *lru.Cache[string, struct{}]

	mu   sync.Mutex
	uses map[string]storage.APIKeyUse
}

// New builds the service. validTier reports whether a tier name is
// configured.
func New(cfg Config, store Store, mac MACer, validTier func(string) bool, log *slog.Logger) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c, err := lru.New[string, *storage.APIKey](cfg.CacheSize)
	if err != nil {
		return nil, err
	}
	addrs, err := lru.New[string, struct{}](4 * cfg.CacheSize)
	if err != nil {
		return nil, err
	}
	return &Service{cfg: cfg, store: store, mac: mac, tiers: validTier, log: log, now: time.Now, cache: c,
		addresses: addrs, uses: map[string]storage.APIKeyUse{}}, nil
}

// Create makes a key and returns it in clear (shown once) with its stored
// form; the apikey.created event names actor (and ctx's request id).
func (s *Service) Create(ctx context.Context, spec Spec, actor string) (string, *storage.APIKey, error) {
	switch {
	case spec.Name == "" || len(spec.Name) > 200:
		return "", nil, &InputError{"name", "is required, at most 200 bytes"}
	case CheckScopes(spec.Scopes) != nil:
		return "", nil, &InputError{"scopes", CheckScopes(spec.Scopes).Error()}
	case !s.tiers(spec.Tier):
		return "", nil, &InputError{"tier", fmt.Sprintf("unknown tier %q (admin.tiers)", spec.Tier)}
	case spec.ExpiresIn < 0 || spec.ExpiresIn > s.cfg.MaxLifetime:
		return "", nil, &InputError{"expires_in", fmt.Sprintf("must be positive and at most %s (admin.api_keys.max_lifetime)", s.cfg.MaxLifetime)}
	}
	if spec.ExpiresIn == 0 {
		spec.ExpiresIn = s.cfg.DefaultLifetime
	}
	key, id := generate()
	now := s.now().UTC().Truncate(time.Millisecond)
	k := &storage.APIKey{ID: id, Name: spec.Name, Hash: s.mac.MAC(macPurpose, []byte(key)), MACKeyID: s.mac.CurrentKeyID(),
		Scopes: spec.Scopes, Tier: spec.Tier, CreatedBy: actor, CreatedAt: now, ExpiresAt: now.Add(spec.ExpiresIn)}
	if !spec.NotAfter.IsZero() && spec.NotAfter.Before(k.ExpiresAt) {
		k.ExpiresAt = spec.NotAfter.UTC().Truncate(time.Millisecond)
	}
	err := s.inTx(ctx, func(ctx context.Context) error {
		if err := s.store.CreateAPIKey(ctx, k); err != nil {
			return err
		}
		return audit.Record(ctx, s.store, storage.AuditEvent{Type: storage.AuditAPIKeyCreated, ActorID: actor,
			Details: map[string]any{"api_key_id": id, "name": k.Name, "scopes": k.Scopes, "tier": k.Tier}}, now)
	})
	if err != nil {
		return "", nil, err
	}
	s.cache.Remove(id)
	return key, k, nil
}

// Revoke stops a key; on other instances at their next change-feed poll.
// ErrNotFound if there is no such key. Revoking twice changes nothing.
func (s *Service) Revoke(ctx context.Context, id, actor string) error {
	err := s.inTx(ctx, func(ctx context.Context) error {
		k, err := s.store.GetAPIKey(ctx, id)
		if err != nil {
			return err
		}
		if !k.RevokedAt.IsZero() {
			return nil
		}
		if err := s.store.RevokeAPIKey(ctx, id, s.now()); err != nil {
			return err
		}
		return audit.Record(ctx, s.store, storage.AuditEvent{Type: storage.AuditAPIKeyRevoked, ActorID: actor,
			Details: map[string]any{"api_key_id": id}}, s.now())
	})
	s.cache.Remove(id)
	return err
}

// Get returns a stored key (never its secret) or storage.ErrNotFound.
func (s *Service) Get(ctx context.Context, id string) (*storage.APIKey, error) {
	return s.store.GetAPIKey(ctx, id)
}

// List returns up to limit keys after the id after.
func (s *Service) List(ctx context.Context, after string, limit int) ([]*storage.APIKey, error) {
	return s.store.ListAPIKeys(ctx, after, limit)
}

// Authenticate checks key and returns the stored key it is. ErrMalformed,
// ErrUnknown, ErrExpired or ErrRevoked say why not; another error is the
// database failing. The use (time, ip) is recorded for the next Flush.
func (s *Service) Authenticate(ctx context.Context, key, ip string) (*storage.APIKey, error) {
	id, err := Parse(key)
	if err != nil {
		return nil, err
	}
	k, err := s.lookup(ctx, id)
	if err != nil {
		return nil, err
	}
	want, ok := s.mac.MACWith(k.MACKeyID, macPurpose, []byte(key))
	if !ok || !hmac.Equal(want, k.Hash) {
		return nil, ErrUnknown
	}
	now := s.now()
	switch {
	case !k.RevokedAt.IsZero():
		return nil, ErrRevoked
	case !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt):
		return nil, ErrExpired
	}
	s.mu.Lock()
	s.uses[id] = storage.APIKeyUse{At: now, IP: ip}
	s.mu.Unlock()
	s.noteAddress(ctx, k, ip, now)
	return k, nil
}

// noteAddress remembers the addresses a key is used from (once per
// process and address), and records apikey.new_address, which alerts the
// administrators, when a key used before from elsewhere comes from a new
// one. A failure to record is logged, not the caller's: it is tried again
// on the key's next use from that address.
func (s *Service) noteAddress(ctx context.Context, k *storage.APIKey, ip string, now time.Time) {
	if ip == "" {
		return
	}
	pair := k.ID + " " + ip
	if s.addresses.Contains(pair) {
		return
	}
	err := s.inTx(ctx, func(ctx context.Context) error {
		added, known, err := s.store.AddAPIKeyAddress(ctx, k.ID, ip, now)
		if err != nil || !added || known == 0 {
			return err
		}
		return audit.Record(ctx, s.store, storage.AuditEvent{Type: storage.AuditAPIKeyNewAddress, ActorID: "apikey:" + k.ID, IP: ip,
			Details: map[string]any{"key_id": k.ID, "key_name": k.Name, "known_addresses": known}}, now)
	})
	if err != nil {
		s.log.WarnContext(ctx, "apikey: could not record the address a key was used from", "key", k.ID, "err", err)
		return
	}
	s.addresses.Add(pair, struct{}{})
}

func (s *Service) lookup(ctx context.Context, id string) (*storage.APIKey, error) {
	if k, ok := s.cache.Get(id); ok {
		if k == nil {
			return nil, ErrUnknown
		}
		return k, nil
	}
	k, err := s.store.GetAPIKey(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		s.cache.Add(id, nil)
		return nil, ErrUnknown
	}
	if err != nil {
		return nil, err
	}
	s.cache.Add(id, k)
	return k, nil
}

// Changed is the change-feed handler of storage.TopicAPIKey: it drops the
// keys that changed, so the next check reads them again.
func (s *Service) Changed(_ context.Context, changes []storage.Change) error {
	for _, c := range changes {
		s.cache.Remove(c.Ref)
	}
	return nil
}

// Flush writes the last uses recorded since the previous flush.
func (s *Service) Flush(ctx context.Context) error {
	s.mu.Lock()
	uses := s.uses
	s.uses = map[string]storage.APIKeyUse{}
	s.mu.Unlock()
	if len(uses) == 0 {
		return nil
	}
	err := s.store.TouchAPIKeys(ctx, uses)
	if err != nil { // keep them for the next flush, unless newer uses came
		s.mu.Lock()
		for id, u := range uses {
			if _, newer := s.uses[id]; !newer {
				s.uses[id] = u
			}
		}
		s.mu.Unlock()
	}
	return err
}

// Run flushes last uses every Config.TouchInterval until ctx ends, and
// once more then.
func (s *Service) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.TouchInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := s.Flush(context.WithoutCancel(ctx)); err != nil {
				s.log.Error("apikey: could not record last use of API keys", "err", err)
			}
			return
		case <-t.C:
			if err := s.Flush(ctx); err != nil {
				s.log.WarnContext(ctx, "apikey: could not record last use of API keys; will retry", "err", err)
			}
		}
	}
}

func (s *Service) inTx(ctx context.Context, fn func(ctx context.Context) error) error {
	return storage.InTx(ctx, s.store, fn)
}
