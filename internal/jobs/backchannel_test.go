package jobs_test

import (
	"context"
	"database/sql"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/riverqueue/river/rivertype"

	"github.com/authd/authd/internal/jobs"
)

// rp is a relying party's back-channel logout endpoint answering with
// statuses in turn (the last one repeats).
type rp struct {
	mu       sync.Mutex
	statuses []int
	got      []*http.Request
	forms    []string
}

func (r *rp) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	req.ParseForm()
	r.got = append(r.got, req)
	r.forms = append(r.forms, req.PostForm.Get("logout_token"))
	status := r.statuses[min(len(r.got), len(r.statuses))-1]
	if status == http.StatusFound {
		http.Redirect(w, req, req.Header.Get("X-Target"), status)
		return
	}
	w.WriteHeader(status)
}

func (r *rp) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

const token = "eyJhbGciOiJSUzI1NiJ9.eyJldmVudHMiOnt9fQ.c2ln"

func TestBackchannelLogoutRetriedUntilDelivered(t *testing.T) {
	each(t, func(t *testing.T, db *sql.DB, dialect string) {
		r := &rp{statuses: []int{http.StatusInternalServerError, http.StatusServiceUnavailable, http.StatusNoContent}}
		srv := httptest.NewServer(r)
		defer srv.Close()
		q := openQueue(t, db, dialect, testConfig(), jobs.Deps{})
		ctx := context.Background()
		if err := q.EnqueueBackchannelLogout(ctx, jobs.BackchannelLogoutArgs{ClientID: "rp1", URI: srv.URL + "/logout?x=1", LogoutToken: token}); err != nil {
			t.Fatal(err)
		}
		id := lastJobID(t, db)
		job := waitState(t, q, id, rivertype.JobStateCompleted, rivertype.JobStateDiscarded)
		if job.State != rivertype.JobStateCompleted || job.Attempt != 3 {
			t.Fatalf("state %s after %d attempts, want completed after 3 (errors %v)", job.State, job.Attempt, jobErrors(job))
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		for i, req := range r.got {
			if req.Method != http.MethodPost || req.URL.Path != "/logout" || req.URL.Query().Get("x") != "1" {
				t.Errorf("request %d: %s %s", i, req.Method, req.URL)
			}
			if ct := req.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
				t.Errorf("request %d: Content-Type %q", i, ct)
			}
			if r.forms[i] != token {
				t.Errorf("request %d: logout_token %q, want %q", i, r.forms[i], token)
			}
		}
		for _, e := range jobErrors(job) {
			if strings.Contains(e, token) {
				t.Errorf("job error %q holds the logout token", e)
			}
		}
	})
}

func TestBackchannelLogoutAccepts200(t *testing.T) {
	each(t, func(t *testing.T, db *sql.DB, dialect string) {
		r := &rp{statuses: []int{http.StatusOK}}
		srv := httptest.NewServer(r)
		defer srv.Close()
		q := openQueue(t, db, dialect, testConfig(), jobs.Deps{})
		id, err := q.Enqueue(context.Background(), jobs.BackchannelLogoutArgs{ClientID: "rp1", URI: srv.URL, LogoutToken: token}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if job := waitState(t, q, id, rivertype.JobStateCompleted, rivertype.JobStateDiscarded); job.Attempt != 1 {
			t.Fatalf("state %s after %d attempts", job.State, job.Attempt)
		}
	})
}

func TestBackchannelLogoutDoesNotFollowRedirects(t *testing.T) {
	each(t, func(t *testing.T, db *sql.DB, dialect string) {
		target := &rp{statuses: []int{http.StatusNoContent}}
		targetSrv := httptest.NewServer(target)
		defer targetSrv.Close()
		redirector := &rp{statuses: []int{http.StatusFound}}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			req.Header.Set("X-Target", targetSrv.URL)
			redirector.ServeHTTP(w, req)
		}))
		defer srv.Close()
		cfg := testConfig()
		cfg.MaxAttempts = 2
		q := openQueue(t, db, dialect, cfg, jobs.Deps{HTTPClient: &http.Client{}})
		id, err := q.Enqueue(context.Background(), jobs.BackchannelLogoutArgs{ClientID: "rp1", URI: srv.URL, LogoutToken: token}, nil)
		if err != nil {
			t.Fatal(err)
		}
		job := waitState(t, q, id, rivertype.JobStateCompleted, rivertype.JobStateDiscarded)
		if job.State != rivertype.JobStateDiscarded || job.Attempt != 2 {
			t.Fatalf("state %s after %d attempts, want discarded after 2", job.State, job.Attempt)
		}
		if n := target.count(); n != 0 {
			t.Fatalf("redirect target got %d requests, want 0", n)
		}
		if n := redirector.count(); n != 2 {
			t.Fatalf("endpoint got %d requests, want 2", n)
		}
	})
}

func TestBackchannelLogoutRefusesNonHTTP(t *testing.T) {
	each(t, func(t *testing.T, db *sql.DB, dialect string) {
		q := openQueue(t, db, dialect, testConfig(), jobs.Deps{})
		ctx := context.Background()
		for _, uri := range []string{"file:///etc/passwd", "ftp://rp.example/logout", "gopher://rp.example", "/relative", "https://rp.example/logout#frag", "javascript:alert(1)"} {
			if err := q.EnqueueBackchannelLogout(ctx, jobs.BackchannelLogoutArgs{ClientID: "rp1", URI: uri, LogoutToken: token}); err == nil {
				t.Errorf("EnqueueBackchannelLogout(%q) accepted", uri)
			}
		}
		if err := q.EnqueueBackchannelLogout(ctx, jobs.BackchannelLogoutArgs{ClientID: "rp1", URI: "https://rp.example/logout"}); err == nil {
			t.Error("EnqueueBackchannelLogout without a token accepted")
		}
		// A job that got in some other way is cancelled, not retried.
		id, err := q.Enqueue(ctx, jobs.BackchannelLogoutArgs{ClientID: "rp1", URI: "file:///etc/passwd", LogoutToken: token}, nil)
		if err != nil {
			t.Fatal(err)
		}
		job := waitState(t, q, id, rivertype.JobStateCancelled, rivertype.JobStateDiscarded, rivertype.JobStateCompleted)
		if job.State != rivertype.JobStateCancelled || job.Attempt != 1 {
			t.Fatalf("state %s after %d attempts, want cancelled after 1", job.State, job.Attempt)
		}
	})
}

func lastJobID(t *testing.T, db *sql.DB) int64 {
	t.Helper()
	var id int64
	if err := db.QueryRow("SELECT max(id) FROM river_job").Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}
