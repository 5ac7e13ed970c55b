// Package httpx holds the HTTP mechanics the confide services share: strict
// JSON request decoding with a size limit, JSON error replies that never
// echo internals, and per-route Prometheus metrics.
package httpx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Error is a request's failure as the client sees it: a status, a stable
// machine-readable code and a message written for the caller. Handlers
// return an *Error for every condition the caller caused; any other error
// becomes a 500 whose text is logged, never sent.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf returns an *Error.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// BadRequest is the common 400.
func BadRequest(format string, args ...any) *Error {
	return Errorf(http.StatusBadRequest, "bad_request", format, args...)
}

// errorBody is the JSON every error reply carries.
type errorBody struct {
	Error *Error `json:"error"`
}

// DecodeJSON reads one JSON value of at most limit bytes into v, refusing
// unknown fields and trailing data.
func DecodeJSON(r *http.Request, limit int64, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !isJSON(ct) {
		return Errorf(http.StatusUnsupportedMediaType, "unsupported_media_type", "content type must be application/json")
	}
	body, err := ReadBody(r, limit)
	if err != nil {
		return err
	}
	return Unmarshal(body, v)
}

// ReadBody reads a request body of at most limit bytes.
func ReadBody(r *http.Request, limit int64) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, BadRequest("reading the request body: %v", err)
	}
	if int64(len(body)) > limit {
		return nil, Errorf(http.StatusRequestEntityTooLarge, "too_large", "request body over %d bytes", limit)
	}
	return body, nil
}

// Unmarshal decodes one strict JSON value: unknown fields and trailing
// data are errors.
func Unmarshal(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return BadRequest("malformed JSON: %s", jsonProblem(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return BadRequest("malformed JSON: data after the value")
	}
	return nil
}

// jsonProblem describes a decoding error without quoting the input.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return "syntax error at byte " + strconv.FormatInt(syn.Offset, 10)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %q must be %s", typ.Field, typ.Type)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected end of input"
	}
	// encoding/json's remaining messages ("unknown field \"x\"", …) name
	// fields, not values.
	return err.Error()
}

func isJSON(ct string) bool {
	return ct == "application/json" || bytes.HasPrefix([]byte(ct), []byte("application/json;"))
}

// WriteJSON writes v with the status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"internal error"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// HandlerFunc is a handler that returns its failure.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Server wraps HandlerFuncs: it writes errors as JSON, logs internal ones
// (the reply says only "internal error"), recovers panics, and counts
// requests per route and status.
type Server struct {
	Log      *slog.Logger
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// NewServer registers the request metrics of a service (namespace, such as
// "confide_attest") with reg, which may be nil.
func NewServer(log *slog.Logger, reg prometheus.Registerer, namespace string) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		Log: log,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "http_requests_total",
			Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "http_request_duration_seconds",
			Help:    "HTTP request latency by route.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
	}
	if reg != nil {
		reg.MustRegister(s.requests, s.latency)
	}
	return s
}

// Common adds what every service serves besides its API: health,
// Prometheus metrics (when gatherer is set), and a JSON 404 for anything
// else instead of the mux's text reply.
func (s *Server) Common(mux *http.ServeMux, health, metrics string, gatherer prometheus.Gatherer) {
	mux.Handle("GET "+health, s.Handle("GET "+health, func(w http.ResponseWriter, r *http.Request) error {
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		return nil
	}))
	if gatherer != nil {
		mux.Handle("GET "+metrics, promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	}
	mux.Handle("/", s.Handle("/", func(w http.ResponseWriter, r *http.Request) error {
		return Errorf(http.StatusNotFound, "not_found", "no such endpoint")
	}))
}

// Handle adapts h for the route (its pattern, used as the metric label).
//
// The closure captures the logger and the metrics, not s: handlers hold
// secrets, and the leak checker, which tracks a bounded depth of fields,
// would otherwise merge the logger with what the handler reaches.
func (s *Server) Handle(route string, h HandlerFunc) http.Handler {
	log, requests, latency := s.Log, s.requests, s.latency
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		func() {
			defer func() {
				if p := recover(); p != nil {
					log.Error("handler panic", "route", route, "panic_type", panicType(p))
					fail(log, rec, r, route, errors.New("panic"))
				}
			}()
			if err := h(rec, r); err != nil {
				fail(log, rec, r, route, err)
			}
		}()
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		requests.WithLabelValues(route, strconv.Itoa(rec.status)).Inc()
		latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}

func fail(log *slog.Logger, w *statusRecorder, r *http.Request, route string, err error) {
	if w.status != 0 {
		return // the reply has begun; nothing more can be said
	}
	var e *Error
	if !errors.As(err, &e) {
		log.Error("request failed", "route", route, "error_types", typeChain(err))
		e = Errorf(http.StatusInternalServerError, "internal", "internal error")
	}
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="confide"`)
	}
	WriteJSON(w, e.Status, errorBody{e})
}

// typeChain names the types of an error and of what it wraps, never its
// text: logs leave the enclave, and an internal error may have been built
// from a key (a decoder quoting its input, a %v of a record). The types
// say where it came from without saying what it held.
//
//confide:declassify
func typeChain(err error) string {
	var b strings.Builder
	for i := 0; err != nil && i < 8; i++ {
		if i > 0 {
			b.WriteString(" → ")
		}
		fmt.Fprintf(&b, "%T", err)
		err = errors.Unwrap(err)
	}
	return b.String()
}

// panicType names a recovered panic value's type, for the same reason.
//
//confide:declassify
func panicType(p any) string { return fmt.Sprintf("%T", p) }

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// WriteAudit replies with an exported audit log (one record per line)
// and its head in the Confide-Audit-Head header.
func WriteAudit(w http.ResponseWriter, export func(io.Writer) (seq uint64, hash string, err error)) error {
	var buf bytes.Buffer
	seq, hash, err := export(&buf)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/jsonl")
	w.Header().Set("Confide-Audit-Head", fmt.Sprintf("%d %s", seq, hash))
	_, err = w.Write(buf.Bytes())
	return err
}

// DecodeError reads the JSON error of a non-2xx reply, for clients.
func DecodeError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var body errorBody
	if json.Unmarshal(b, &body) == nil && body.Error != nil {
		body.Error.Status = resp.StatusCode
		return body.Error
	}
	return &Error{Status: resp.StatusCode, Code: "http_" + strconv.Itoa(resp.StatusCode), Message: http.StatusText(resp.StatusCode)}
}
