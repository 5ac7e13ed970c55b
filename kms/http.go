package kms

import (
	"io"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/confide/confide/internal/httpx"
	"github.com/confide/confide/kms/api"
)

// logger returns the broker's logger. It holds no secret, but it is
// reached through the Broker, which does, and the leak checker would
// otherwise count everything logged through it as derived from the
// key-encryption key.
//
//confide:declassify
func (b *Broker) logger() *slog.Logger { return b.cfg.Log }

// Handler returns the HTTP API. gatherer serves /metrics (nil: none).
func (b *Broker) Handler(gatherer prometheus.Gatherer) http.Handler {
	hs := httpx.NewServer(b.logger(), b.cfg.Registerer, "confide_kms")
	mux := http.NewServeMux()
	route := func(pattern string, h httpx.HandlerFunc) { mux.Handle(pattern, hs.Handle(pattern, h)) }
	// caller authenticates a principal; the release endpoint instead
	// authenticates the enclave by its attestation token.
	caller := func(r *http.Request) (Caller, error) {
		p, err := b.cfg.Principals.Authenticate(r)
		return Caller{Name: p.Name, Admin: p.Admin}, err
	}
	route("POST "+api.PathMigrate, b.migrateRoute)
	keyPath := api.PathKeys + "/{name}"
	route("GET "+api.PathKeys, func(w http.ResponseWriter, r *http.Request) error {
		c, err := caller(r)
		if err != nil {
			return err
		}
		keys, err := b.List(c)
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, api.KeyList{Keys: keys})
		return nil
	})
	route("PUT "+keyPath, func(w http.ResponseWriter, r *http.Request) error {
		c, err := caller(r)
		if err != nil {
			return err
		}
		var req api.CreateKey
		if err := httpx.DecodeJSON(r, api.MaxRequest, &req); err != nil {
			return err
		}
		k, err := b.Create(c, r.PathValue("name"), req)
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusCreated, k)
		return nil
	})
	route("PATCH "+keyPath, func(w http.ResponseWriter, r *http.Request) error {
		c, err := caller(r)
		if err != nil {
			return err
		}
		var req api.UpdateKey
		if err := httpx.DecodeJSON(r, api.MaxRequest, &req); err != nil {
			return err
		}
		k, err := b.Update(c, r.PathValue("name"), req)
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, k)
		return nil
	})
	route("GET "+keyPath, func(w http.ResponseWriter, r *http.Request) error {
		c, err := caller(r)
		if err != nil {
			return err
		}
		k, err := b.Get(c, r.PathValue("name"))
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, k)
		return nil
	})
	route("DELETE "+keyPath, func(w http.ResponseWriter, r *http.Request) error {
		c, err := caller(r)
		if err != nil {
			return err
		}
		if err := b.Delete(c, r.PathValue("name")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
	route("POST "+keyPath+"/rotate", func(w http.ResponseWriter, r *http.Request) error {
		c, err := caller(r)
		if err != nil {
			return err
		}
		k, err := b.Rotate(c, r.PathValue("name"))
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, k)
		return nil
	})
	route("POST "+keyPath+"/release", func(w http.ResponseWriter, r *http.Request) error {
		var req api.ReleaseRequest
		if err := httpx.DecodeJSON(r, api.MaxRequest, &req); err != nil {
			return err
		}
		resp, err := b.Release(r.Context(), r.PathValue("name"), req)
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, resp)
		return nil
	})
	route("POST "+keyPath+"/{op}", func(w http.ResponseWriter, r *http.Request) error {
		c, err := caller(r)
		if err != nil {
			return err
		}
		var req api.OpRequest
		if err := httpx.DecodeJSON(r, api.MaxRequest, &req); err != nil {
			return err
		}
		resp, err := b.Do(c, r.PathValue("name"), r.PathValue("op"), req)
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, resp)
		return nil
	})
	route("GET "+api.PathAudit, func(w http.ResponseWriter, r *http.Request) error {
		c, err := caller(r)
		if err != nil {
			return err
		}
		return httpx.WriteAudit(w, func(out io.Writer) (uint64, string, error) {
			h, err := b.ExportAudit(c, out)
			return h.Seq, h.Hash, err
		})
	})
	hs.Common(mux, api.PathHealth, api.PathMetrics, gatherer)
	return mux
}
