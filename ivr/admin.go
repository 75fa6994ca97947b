package ivr

import (
	"encoding/json"
	"errors"
	"net/http"
)

// ReloadStatus is the admin endpoint's answer.
type ReloadStatus struct {
	Version int64    `json:"version"`
	Flows   []string `json:"flows"`
	Errors  []string `json:"errors,omitempty"`
}

// AdminHandler serves the flow registry for operators: GET shows the loaded
// flows, POST reloads them from disk. A failed reload answers 422 with every
// error and leaves the running flows untouched. Authentication is the
// mounting router's job.
func (r *Registry) AdminHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		status, code := ReloadStatus{}, http.StatusOK
		switch req.Method {
		case http.MethodGet:
		case http.MethodPost:
			if err := r.Reload(); err != nil {
				code = http.StatusUnprocessableEntity
				var list ErrorList
				if errors.As(err, &list) {
					for _, e := range list {
						status.Errors = append(status.Errors, e.Error())
					}
				} else {
					status.Errors = []string{err.Error()}
				}
			}
		default:
			w.Header().Set("Allow", "GET, POST")
			http.Error(w, "use GET or POST", http.StatusMethodNotAllowed)
			return
		}
		status.Version, status.Flows = r.Version(), r.Names()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(status) // the client went away; nothing to do
	})
}
