package console

import (
	"bytes"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/confide/confide/audit"
	kmsclient "github.com/confide/confide/kms/client"
)

func (s *Server) kmsRoutes(mux *http.ServeMux) {
	if !s.cfg.KMS.configured() {
		return
	}
	mux.Handle("GET /keys", s.page(s.keys, true))
	mux.Handle("GET /keys/audit", s.page(s.kmsAudit, true))
	mux.Handle("GET /keys/audit.jsonl", s.page(s.kmsAuditRaw, true))
	mux.Handle("GET /keys/k/{name}", s.page(s.key, true))
}

// kmsClient talks to the key broker as the signed-in user.
func (s *Server) kmsClient(sess *session) *kmsclient.Client {
	c := kmsclient.New(s.cfg.KMS.URL, s.cfg.KMS.HTTP)
	c.Bearer = sess.token
	return c
}

func (s *Server) keys(w http.ResponseWriter, r *http.Request, sess *session) error {
	data := map[string]any{}
	ks, err := s.kmsClient(sess).List(r.Context())
	switch {
	case denied(err):
		data["Denied"] = true
	case err != nil:
		return err
	default:
		data["Keys"] = ks
	}
	s.render(w, r, sess, "keys", data)
	return nil
}

// grant is one principal's allowed key operations.
type grant struct {
	Principal string
	Ops       string
}

func (s *Server) key(w http.ResponseWriter, r *http.Request, sess *session) error {
	k, err := s.kmsClient(sess).Get(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	var grants []grant
	for _, p := range sortedKeys(k.Access) {
		ops := append([]string(nil), k.Access[p]...)
		sort.Strings(ops)
		grants = append(grants, grant{p, strings.Join(ops, ", ")})
	}
	s.render(w, r, sess, "key", map[string]any{"Key": k, "ReleasePolicy": string(k.ReleasePolicy), "Grants": grants})
	return nil
}

// kmsAudit shows the broker's audit log, its chain verified by the
// console (and again in the browser, by console.js from audit.jsonl), and
// its denials with their reasons.
func (s *Server) kmsAudit(w http.ResponseWriter, r *http.Request, sess *session) error {
	var buf bytes.Buffer
	reported, err := s.kmsClient(sess).Audit(r.Context(), &buf)
	if err != nil {
		return err
	}
	data := map[string]any{"Reported": reported}
	h, recs, verr := verifyExport(buf.Bytes(), reported)
	if verr != nil {
		data["ChainError"] = verr.Error()
	}
	var denials []audit.Record
	for _, rec := range recs {
		if rec.Outcome == audit.Denied {
			denials = append(denials, rec)
		}
	}
	// Newest first: the page pages through a long log.
	for i, j := 0, len(recs)-1; i < j; i, j = i+1, j-1 {
		recs[i], recs[j] = recs[j], recs[i]
	}
	const pageSize = 100
	page := max(1, atoiDefault(r.URL.Query().Get("page"), 1))
	from := min((page-1)*pageSize, len(recs))
	to := min(from+pageSize, len(recs))
	data["Records"], data["Denials"], data["Head"] = recs[from:to], denials, h
	if to < len(recs) {
		data["Next"] = page + 1
	}
	if page > 1 {
		data["Prev"] = page - 1
	}
	s.render(w, r, sess, "kms-audit", data)
	return nil
}

// kmsAuditRaw relays the exported log, byte for byte, with the head the
// broker reported, for the browser's own check of the chain.
func (s *Server) kmsAuditRaw(w http.ResponseWriter, r *http.Request, sess *session) error {
	var buf bytes.Buffer
	reported, err := s.kmsClient(sess).Audit(r.Context(), &buf)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/jsonl")
	w.Header().Set("Confide-Audit-Head", fmt.Sprintf("%d %s", reported.Seq, reported.Hash))
	_, err = w.Write(buf.Bytes())
	return err
}
