package console

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// Demo is a demonstration the console runs against the live deployment
// and whose figure it shows, regenerated on request.
type Demo struct {
	Title, About string
	// Run runs the demo as the signed-in user (bearer: the user's token,
	// for the services), writing what it prints to w and its files into
	// dir; it returns the path of its SVG figure.
	Run func(ctx context.Context, bearer, dir string, w io.Writer) (figure string, err error)
}

// demoResult is a demo's last run.
type demoResult struct {
	When   time.Time
	By     string
	Output string
	Figure []byte
	Err    string
}

type demos struct {
	mu   sync.Mutex
	last map[string]*demoResult
	run  sync.Mutex // one demo at a time: they load the machine
}

func (s *Server) demoRoutes(mux *http.ServeMux) {
	if len(s.cfg.Demos) == 0 {
		return
	}
	mux.Handle("GET /demos", s.page(s.demosPage, true))
	mux.Handle("POST /demos/{name}", s.page(s.demoRun, true))
	mux.Handle("GET /demos/{name}/figure.svg", s.page(s.demoFigure, true))
}

type demoView struct {
	Name, Title, About string
	Last               *demoResult
}

func (s *Server) demosPage(w http.ResponseWriter, r *http.Request, sess *session) error {
	var views []demoView
	s.demos.mu.Lock()
	for _, name := range sortedKeys(s.cfg.Demos) {
		d := s.cfg.Demos[name]
		views = append(views, demoView{Name: name, Title: d.Title, About: d.About, Last: s.demos.last[name]})
	}
	s.demos.mu.Unlock()
	s.render(w, r, sess, "demos", map[string]any{"DemoList": views})
	return nil
}

// demoRun runs a demo now (administrators: it writes keys to the key
// broker and loads the machine) and shows its page.
func (s *Server) demoRun(w http.ResponseWriter, r *http.Request, sess *session) error {
	name := r.PathValue("name")
	d, ok := s.cfg.Demos[name]
	if !ok {
		return pageError{http.StatusNotFound, "There is no such demo."}
	}
	if !sess.admin {
		return pageError{http.StatusForbidden, "Only administrators run demos: they store keys in the key broker."}
	}
	if !s.demos.run.TryLock() {
		return pageError{http.StatusConflict, "A demo is running; try again when it has finished."}
	}
	defer s.demos.run.Unlock()
	dir, err := os.MkdirTemp("", "confide-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Minute)
	defer cancel()
	var out bytes.Buffer
	res := &demoResult{When: s.cfg.Now().UTC(), By: sess.name}
	fig, err := d.Run(ctx, sess.token, dir, &out)
	if err == nil {
		res.Figure, err = os.ReadFile(fig)
	}
	if err != nil {
		s.cfg.Log.Warn("console: demo failed", "demo", name, "err", err)
		res.Err = "the demo failed; the console's log says why"
	}
	// Where the demo wrote its files is the console host's business.
	res.Output = strings.ReplaceAll(out.String(), dir, "(demo directory)")
	s.demos.mu.Lock()
	if s.demos.last == nil {
		s.demos.last = map[string]*demoResult{}
	}
	s.demos.last[name] = res
	s.demos.mu.Unlock()
	http.Redirect(w, r, "/demos#"+name, http.StatusSeeOther)
	return nil
}

func (s *Server) demoFigure(w http.ResponseWriter, r *http.Request, sess *session) error {
	s.demos.mu.Lock()
	res := s.demos.last[r.PathValue("name")]
	s.demos.mu.Unlock()
	if res == nil || res.Figure == nil {
		return pageError{http.StatusNotFound, "This demo has not run yet."}
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	_, err := w.Write(res.Figure)
	return err
}
