package console

import (
	"context"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/confide/confide/enclave"
)

// pageNames are the page templates, each rendered inside the layout.
var pageNames = []string{"signin", "error", "overview", "attestation", "policy", "policy-preview", "token", "keys", "key", "kms-audit",
	"ledger", "ledger-transactions", "ledger-tx", "ledger-governance", "ledger-proposal", "ledger-constitution",
	"ethereum", "ethereum-block", "ethereum-tx", "sql", "sql-db", "ml", "ml-job", "demos"}

func parsePages() (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"hasPrefix": strings.HasPrefix,
		"short": func(h string) string {
			if len(h) > 16 {
				return h[:16] + "…"
			}
			return h
		},
	}
	pages := make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(assets, "assets/templates/layout.html", "assets/templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("console: page %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// serviceStatus is what the overview shows of one service.
type serviceStatus struct {
	Name, URL string
	Healthy   bool
	Problem   string
	Identity  *enclave.Claims
	Metrics   []metric
	Note      string
}

type metric struct {
	Name  string
	Help  string
	Value float64
}

func (s *Server) overview(w http.ResponseWriter, r *http.Request, sess *session) error {
	var svcs []serviceStatus
	for _, b := range []struct {
		name string
		b    Backend
	}{{"Attestation service", s.cfg.Attest}, {"Key broker", s.cfg.KMS}, {"Multi-party trainer", s.cfg.ML}} {
		if b.b.configured() {
			svcs = append(svcs, probe(r.Context(), b.name, b.b))
		}
	}
	if s.cfg.Ledger.URL != "" {
		svcs = append(svcs, s.probeLedger(r, sess))
	}
	if s.cfg.SQL.DSN != "" {
		svcs = append(svcs, s.probeSQL(r))
	}
	s.render(w, r, sess, "overview", map[string]any{"Services": svcs})
	return nil
}

// probeLedger reports the ledger's state; its nodes' identities (the
// evidence each joined with) are on the ledger page.
func (s *Server) probeLedger(r *http.Request, sess *session) serviceStatus {
	st := serviceStatus{Name: "Confidential ledger", URL: s.cfg.Ledger.URL}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	var state map[string]any
	if err := s.ledgerDo(ctx, sess, "GET", "/node/state", "", nil, &state); err != nil {
		st.Problem = "does not answer"
		return st
	}
	st.Healthy = true
	for _, k := range []string{"view", "last_seqno", "commit_seqno"} {
		if v, ok := state[k].(float64); ok {
			st.Metrics = append(st.Metrics, metric{Name: k, Value: v})
		}
	}
	var nodes struct {
		Value []struct {
			Info map[string]any `json:"info"`
		} `json:"value"`
	}
	if s.ledgerDo(ctx, sess, "GET", "/gov/service/nodes", "", nil, &nodes) == nil {
		st.Metrics = append(st.Metrics, metric{Name: "nodes", Value: float64(len(nodes.Value))})
	}
	st.Note = "Its nodes' identities are on the ledger page."
	return st
}

// probeSQL reports whether the Always Encrypted SQL server answers.
func (s *Server) probeSQL(r *http.Request) serviceStatus {
	st := serviceStatus{Name: "Always Encrypted SQL"}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	c, err := s.sqlConn(ctx, "")
	if err != nil {
		st.Problem = "does not answer"
		return st
	}
	defer c.Close(context.Background())
	rows, err := c.Query(ctx, "SELECT * FROM sp_databases()")
	if err != nil {
		st.Problem = "does not answer"
		return st
	}
	n := 0
	for rows.Next() {
		n++
	}
	if rows.Err() != nil {
		st.Problem = "does not answer"
		return st
	}
	st.Healthy = true
	st.Metrics = []metric{{Name: "databases", Value: float64(n)}}
	st.Note = "It holds ciphertext only; its SQL enclave attests to each client that uses it."
	return st
}

// probe asks a service for its health and metrics, and reads its enclave
// identity off the attested TLS connection.
func probe(ctx context.Context, name string, b Backend) serviceStatus {
	st := serviceStatus{Name: name, URL: b.URL}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := get(ctx, b, "/healthz")
	if err != nil {
		st.Problem = "does not answer"
		return st
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	st.Healthy = resp.StatusCode == http.StatusOK
	if !st.Healthy {
		st.Problem = resp.Status
	}
	if resp.TLS != nil && b.ATLS != nil {
		if c, err := b.ATLS.PeerClaims(*resp.TLS); err == nil {
			st.Identity = &c
		}
	}
	if resp, err := get(ctx, b, "/metrics"); err == nil {
		st.Metrics = confideMetrics(io.LimitReader(resp.Body, 8<<20))
		resp.Body.Close()
	}
	return st
}

func get(ctx context.Context, b Backend, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(b.URL, "/")+path, nil)
	if err != nil {
		return nil, err
	}
	hc := b.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	return hc.Do(req)
}

// confideMetrics sums each of the service's own counters and gauges
// (confide_…) over its labels: the key figures of the overview.
func confideMetrics(r io.Reader) []metric {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil
	}
	var out []metric
	for name, f := range fams {
		if !strings.HasPrefix(name, "confide_") || strings.Contains(name, "_http_") {
			continue
		}
		var sum float64
		for _, m := range f.GetMetric() {
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				sum += m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				sum += m.GetGauge().GetValue()
			default:
				continue
			}
		}
		out = append(out, metric{Name: name, Help: f.GetHelp(), Value: sum})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
