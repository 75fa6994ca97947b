package recording

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Scope says which recordings a requester may see, e.g. a supervisor only
// their queues' calls. It must be cheap: it runs for every listed sidecar.
type Scope func(m Meta) bool

// Authorizer authenticates a request and returns the requester's scope.
// The agent API supplies it so recordings share its auth and roles. Return
// an error wrapping ErrUnauthenticated for 401, any other error for 403.
type Authorizer func(r *http.Request) (Scope, error)

// ErrUnauthenticated makes the handler answer 401 instead of 403.
var ErrUnauthenticated = errors.New("recording: unauthenticated")

// Handler serves recordings to supervisors:
//
//	GET <prefix>?date=YYYY-MM-DD&agent=&queue=&caller=&tier=  JSON listing
//	GET <prefix><callid>.wav                           audio, with Range
//	GET <prefix><callid>.json                          sidecar
//
// A recording outside the requester's scope answers 404, exactly like a
// missing one, so ids cannot be probed. Ids are validated before any file
// system access, and every path is rebuilt from the validated id, so
// "../" in any encoding never reaches the file system.
type Handler struct {
	root   string
	prefix string
	auth   Authorizer
	log    *slog.Logger
}

// NewHandler returns a Handler for recordings under root, mounted at prefix
// (e.g. "/recordings/"; with http.StripPrefix use "/"). A nil authorizer
// refuses everything.
func NewHandler(root, prefix string, auth Authorizer, log *slog.Logger) *Handler {
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	if log == nil {
		log = slog.Default()
	}
	return &Handler{root: root, prefix: prefix, auth: auth, log: log}
}

// Listing is the JSON body of the listing endpoint.
type Listing struct {
	Recordings []Meta `json:"recordings"`
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if h.auth == nil {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	scope, err := h.auth(r)
	if err != nil {
		if errors.Is(err, ErrUnauthenticated) {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	if scope == nil {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	// Judge the raw path too: an encoded slash must not pass as a name.
	p := r.URL.Path
	if r.URL.RawPath != "" {
		p = r.URL.RawPath
	}
	rest, ok := strings.CutPrefix(p, h.prefix)
	if !ok {
		http.NotFound(w, r)
		return
	}
	if rest == "" {
		h.list(w, r, scope)
		return
	}
	if strings.ContainsAny(rest, "/\\%") || strings.Contains(rest, "..") {
		http.NotFound(w, r)
		return
	}
	id, ext := trimExt(rest)
	if (ext != ".wav" && ext != ".json") || !ValidCallID(id) {
		http.Error(w, "bad recording id", http.StatusBadRequest)
		return
	}
	e, m, ok := h.find(id)
	if !ok || !scope(m) {
		http.NotFound(w, r)
		return
	}
	if ext == ".json" {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(m)
		return
	}
	f, err := os.Open(e.wavPath())
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "audio/wav")
	http.ServeContent(w, r, id+".wav", st.ModTime(), f)
}

// find locates a recording by id across day directories (newest first) and
// loads its sidecar; a WAV without sidecar gets a bare Meta.
func (h *Handler) find(id string) (entry, Meta, bool) {
	days, err := dayDirs(h.root)
	if err != nil {
		h.log.Warn("recordings: list days", "err", err)
		return entry{}, Meta{}, false
	}
	for i := len(days) - 1; i >= 0; i-- {
		e := entry{id: id, day: days[i], dir: filepath.Join(h.root, filepath.FromSlash(days[i]))}
		st, err := os.Lstat(e.wavPath())
		if err != nil || !st.Mode().IsRegular() {
			continue
		}
		m, err := readSidecar(e.metaPath())
		if err != nil {
			m = Meta{CallID: id, File: e.day + "/" + id + ".wav", Size: st.Size()}
		}
		return e, m, true
	}
	return entry{}, Meta{}, false
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request, scope Scope) {
	q := r.URL.Query()
	agent, queue, caller, tier := q.Get("agent"), q.Get("queue"), q.Get("caller"), q.Get("tier")
	var days []string
	if d := q.Get("date"); d != "" {
		t, err := time.Parse("2006-01-02", d)
		if err != nil {
			http.Error(w, "bad date, want YYYY-MM-DD", http.StatusBadRequest)
			return
		}
		days = []string{dayDir(t)}
	} else {
		var err error
		if days, err = dayDirs(h.root); err != nil {
			h.log.Error("recordings: listing", "err", err)
			http.Error(w, "listing failed", http.StatusInternalServerError)
			return
		}
	}
	out := Listing{Recordings: []Meta{}}
	for _, d := range days {
		es, err := entriesIn(h.root, d)
		if err != nil {
			h.log.Error("recordings: listing", "day", d, "err", err)
			http.Error(w, "listing failed", http.StatusInternalServerError)
			return
		}
		for _, e := range es {
			if !e.hasMeta {
				continue
			}
			m, err := readSidecar(e.metaPath())
			if err != nil {
				continue
			}
			if (agent != "" && m.Agent != agent) || (queue != "" && m.Queue != queue) ||
				(caller != "" && m.Caller != caller) || (tier != "" && m.Tier != tier) || !scope(m) {
				continue
			}
			out.Recordings = append(out.Recordings, m)
		}
	}
	sort.SliceStable(out.Recordings, func(i, j int) bool {
		return out.Recordings[i].Start.After(out.Recordings[j].Start)
	})
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}
