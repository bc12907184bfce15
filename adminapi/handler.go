// Package adminapi serves the admin API of hitexport's integrations
// (design.md § Admin API) and holds its command-line client.
//
// Routes (all JSON; errors as {"error": {"code", "message", "field"}}):
//
//	POST   /api/v1/integrations            create → 201
//	GET    /api/v1/integrations            list → {"integrations": [...]}
//	GET    /api/v1/integrations/{id}       one integration
//	PATCH  /api/v1/integrations/{id}       partial update
//	DELETE /api/v1/integrations/{id}       → 204
//	POST   /api/v1/integrations/{id}/test  "Test integration" of a stored one
//	POST   /api/v1/integrations/test       "Test integration" of an unsaved body
//	GET    /api/v1/openapi.json            the OpenAPI 3.1 document (public)
//
// Every /api route except openapi.json needs "Authorization: Bearer TOKEN".
// The OpenAPI document is public: it describes the API and holds no data.
package adminapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/hitexport/hitexport/integrations"
	"github.com/hitexport/hitexport/registry"
)

// OpenAPI is the OpenAPI 3.1 document of the API, served at
// /api/v1/openapi.json.
//
//go:embed openapi.json
var OpenAPI []byte

// TestStep is one step of "Test integration" (the steps of hitexport
// check: config, kafka, s3, s3-write).
type TestStep struct {
	Step    string `json:"step"`
	OK      bool   `json:"ok"`
	Message string `json:"message"`
}

// TestResult is the answer of the test routes.
type TestResult struct {
	OK    bool       `json:"ok"`
	Steps []TestStep `json:"steps"`
}

// Tester runs the checks of hitexport check against one integration (its
// secrets included). Messages must not contain secrets.
type Tester func(ctx context.Context, it integrations.Integration) TestResult

// StatusSource is the data plane's runtime status of an integration on this
// replica (ok false: nothing known, e.g. not started yet).
type StatusSource interface {
	Status(id string) (rt integrations.RuntimeStatus, ok bool)
}

// Positions changes an integration's stored progress: ResetToLatest (on
// PATCH {"enabled": true, "resume": "latest"}, before the integration is
// enabled) moves it to the current end of its topic; Forget (after DELETE)
// removes it.
type Positions interface {
	ResetToLatest(ctx context.Context, id string) error
	Forget(ctx context.Context, id string) error
}

// Options are the handler's dependencies.
type Options struct {
	// Registry holds the integrations. Required.
	Registry registry.Registry
	// Token is the bearer token every /api route but openapi.json needs.
	// Empty only with AllowNoToken (no authentication at all).
	Token        string
	AllowNoToken bool
	// Defaults for new integrations (filter.topic = HITEXPORT_KAFKA_TOPIC).
	Defaults integrations.Defaults
	// Tester runs "Test integration". Required.
	Tester Tester
	// TestTimeout bounds one test (default 60s).
	TestTimeout time.Duration
	// Status: the runtime part of status (nil: unknown, state from the
	// registry alone).
	Status StatusSource
	// Positions (nil: resume "latest" is refused, DELETE forgets nothing).
	Positions Positions
	// Notify, when set, is called (and must not block: e.g.
	// (*integrations.Notifier).Send) with an integration's notify_url and
	// the event when a request changes its state (enabled, disabled,
	// deleted). State changes made by the data plane (failing,
	// auto_disabled) are the data plane's to notify.
	Notify func(url string, ev integrations.Event)
	// MaxBodyBytes limits a request body (default 1 MiB).
	MaxBodyBytes int64
	// Logger (default slog.Default()).
	Logger *slog.Logger
	// Now (default time.Now).
	Now func() time.Time
}

// Handler is the admin API.
type Handler struct {
	o       Options
	mux     *http.ServeMux
	token   [32]byte
	log     *slog.Logger
	observe func(method, pattern string, status int) // tests
}

type route struct {
	method, pattern string
	handle          func(h *Handler, w http.ResponseWriter, r *http.Request) error
	public          bool
	// statuses the route answers with (the OpenAPI test checks the
	// document lists exactly these).
	statuses []int
}

// Common statuses of the authenticated routes.
var authed = []int{http.StatusUnauthorized, http.StatusInternalServerError}

var routes = []route{
	{"POST", "/api/v1/integrations", (*Handler).create, false, append([]int{201, 400, 409, 413, 422, 503}, authed...)},
	{"GET", "/api/v1/integrations", (*Handler).list, false, append([]int{200, 503}, authed...)},
	{"GET", "/api/v1/integrations/{id}", (*Handler).get, false, append([]int{200, 404, 503}, authed...)},
	{"PATCH", "/api/v1/integrations/{id}", (*Handler).patch, false, append([]int{200, 400, 404, 409, 413, 422, 503}, authed...)},
	{"DELETE", "/api/v1/integrations/{id}", (*Handler).delete, false, append([]int{204, 404, 409, 503}, authed...)},
	{"POST", "/api/v1/integrations/{id}/test", (*Handler).testStored, false, append([]int{200, 404, 503}, authed...)},
	{"POST", "/api/v1/integrations/test", (*Handler).testUnsaved, false, append([]int{200, 400, 413, 422}, authed...)},
	{"GET", "/api/v1/openapi.json", (*Handler).openapi, true, []int{200}},
}

// NewHandler returns the admin API handler.
func NewHandler(o Options) (*Handler, error) {
	if o.Registry == nil {
		return nil, errors.New("adminapi: no registry")
	}
	if o.Tester == nil {
		return nil, errors.New("adminapi: no tester")
	}
	if o.Token == "" && !o.AllowNoToken {
		return nil, errors.New("HITEXPORT_ADMIN_TOKEN_FILE: required: the admin API needs a bearer token")
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 1 << 20
	}
	if o.TestTimeout <= 0 {
		o.TestTimeout = 60 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	h := &Handler{o: o, mux: http.NewServeMux(), log: o.Logger}
	if o.Token != "" {
		h.token = sha256.Sum256([]byte(o.Token))
	}
	for _, rt := range routes {
		rt := rt
		h.mux.HandleFunc(rt.method+" "+rt.pattern, func(w http.ResponseWriter, r *http.Request) { h.serve(rt, w, r) })
	}
	return h, nil
}

// ServeHTTP serves the routes; a known path with another method is 405
// (with Allow), anything else 404, both as JSON errors.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, p := h.mux.Handler(r); p != "" {
		h.mux.ServeHTTP(w, r)
		return
	}
	var allowed []string
	for _, m := range []string{"GET", "POST", "PATCH", "DELETE"} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, p := h.mux.Handler(probe); p != "" {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) == 0 {
		writeError(w, http.StatusNotFound, "not_found", "no such route: "+r.URL.Path, "")
		return
	}
	allow := strings.Join(allowed, ", ")
	w.Header().Set("Allow", allow)
	writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not served here: allowed "+allow, "")
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (h *Handler) serve(rt route, w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		if h.observe != nil {
			h.observe(rt.method, rt.pattern, sw.status)
		}
	}()
	sw.Header().Set("Cache-Control", "no-store")
	if !rt.public && !h.authorized(r) {
		sw.Header().Set("WWW-Authenticate", `Bearer realm="hitexport"`)
		writeError(sw, http.StatusUnauthorized, "unauthorized", "missing or wrong bearer token (Authorization: Bearer <token from HITEXPORT_ADMIN_TOKEN_FILE>)", "")
		return
	}
	if r.Body != nil {
		r.Body = http.MaxBytesReader(sw, r.Body, h.o.MaxBodyBytes)
	}
	if err := rt.handle(h, sw, r); err != nil {
		h.writeErr(sw, r, err)
	}
}

// authorized compares the bearer token in constant time (of the SHA-256 of
// both, so the length does not leak either).
func (h *Handler) authorized(r *http.Request) bool {
	if h.o.Token == "" {
		return h.o.AllowNoToken
	}
	auth := r.Header.Get("Authorization")
	const prefix = "bearer "
	if len(auth) <= len(prefix) || !strings.EqualFold(auth[:len(prefix)], prefix) {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(auth[len(prefix):])))
	return subtle.ConstantTimeCompare(got[:], h.token[:]) == 1
}

// apiError is an error with its HTTP answer.
type apiError struct {
	status           int
	code, msg, field string
}

func (e *apiError) Error() string { return e.msg }

func badRequest(msg, field string) *apiError {
	return &apiError{http.StatusBadRequest, "bad_request", msg, field}
}

func (h *Handler) writeErr(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	var fe *integrations.FieldError
	var ce *registry.ConflictError
	switch {
	case errors.As(err, &ae):
		writeError(w, ae.status, ae.code, ae.msg, ae.field)
	case errors.As(err, &fe):
		writeError(w, http.StatusUnprocessableEntity, "invalid", fe.Error(), fe.Field)
	case errors.As(err, &ce):
		writeError(w, http.StatusConflict, "conflict", ce.Message, ce.Field)
	case errors.Is(err, registry.ErrReadOnly):
		writeError(w, http.StatusConflict, "read_only", "the registry is read-only (HITEXPORT_REGISTRY is env or file:PATH): change the integrations there", "")
	case errors.Is(err, registry.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", err.Error(), "")
	case errors.Is(err, registry.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		h.log.Error("admin API: registry unavailable", "method", r.Method, "path", r.URL.Path, "error", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", err.Error(), "")
	default:
		h.log.Error("admin API: internal error", "method", r.Method, "path", r.URL.Path, "error", err)
		writeError(w, http.StatusInternalServerError, "internal", "internal error: "+err.Error(), "")
	}
}

// ErrorBody is the error answer.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail: code (bad_request, unauthorized, not_found, conflict,
// read_only, invalid, too_large, method_not_allowed, unavailable,
// internal), message, and the dotted field path when one field is at fault.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func writeError(w http.ResponseWriter, status int, code, msg, field string) {
	writeJSON(w, status, ErrorBody{Error: ErrorDetail{Code: code, Message: msg, Field: field}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// decode reads one JSON value into dst: unknown fields and malformed JSON
// are 400, a value of the wrong type is 422 naming the field, a body over
// the limit is 413.
func decode(r *http.Request, dst any) error {
	if r.Body == nil {
		return badRequest("a JSON body is required", "")
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			var mbe *http.MaxBytesError
			if errors.As(terr, &mbe) {
				err = terr
			} else {
				return badRequest("malformed JSON: data after the value", "")
			}
		}
	}
	if err == nil {
		return nil
	}
	var mbe *http.MaxBytesError
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &mbe):
		return &apiError{http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("request body over %d bytes", mbe.Limit), ""}
	case errors.Is(err, io.EOF):
		return badRequest("a JSON body is required", "")
	case errors.As(err, &se), errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("malformed JSON: "+err.Error(), "")
	case errors.As(err, &te):
		if te.Field == "" {
			return badRequest("the body must be a JSON object", "")
		}
		return &apiError{http.StatusUnprocessableEntity, "invalid", fmt.Sprintf("%s: must be a JSON %s, not %s", te.Field, jsonKind(te.Type.Kind().String()), te.Value), te.Field}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return badRequest("unknown field "+strconvQuote(name), name)
	}
	return badRequest("malformed JSON: "+err.Error(), "")
}

func strconvQuote(s string) string { b, _ := json.Marshal(s); return string(b) }

func jsonKind(goKind string) string {
	switch goKind {
	case "bool":
		return "boolean"
	case "string":
		return "string"
	case "struct", "map":
		return "object"
	case "slice":
		return "array"
	}
	return goKind
}

// view is the output form of it: no secrets, status computed.
func (h *Handler) view(it integrations.Integration) integrations.Integration {
	var rt integrations.RuntimeStatus
	ok := false
	if h.o.Status != nil {
		rt, ok = h.o.Status.Status(it.ID)
	}
	return it.Redacted().WithStatus(integrations.ComputeStatus(it, rt, ok))
}

// IntegrationList is the answer of GET /api/v1/integrations.
type IntegrationList struct {
	Integrations []integrations.Integration `json:"integrations"`
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request) error {
	all, err := h.o.Registry.List(r.Context())
	if err != nil {
		return err
	}
	out := IntegrationList{Integrations: make([]integrations.Integration, 0, len(all))}
	for _, it := range all {
		out.Integrations = append(out.Integrations, h.view(it))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request) error {
	it, err := h.o.Registry.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, h.view(it))
	return nil
}

func (h *Handler) create(w http.ResponseWriter, r *http.Request) error {
	if h.o.Registry.ReadOnly() {
		return registry.ErrReadOnly
	}
	var p integrations.Patch
	if err := decode(r, &p); err != nil {
		return err
	}
	it, err := integrations.New(p, h.o.Defaults, h.o.Now())
	if err != nil {
		return err
	}
	it, err = h.o.Registry.Create(r.Context(), it)
	if err != nil {
		return err
	}
	h.log.Info("integration created", "integration", it.ID, "name", it.Name)
	w.Header().Set("Location", "/api/v1/integrations/"+it.ID)
	writeJSON(w, http.StatusCreated, h.view(it))
	return nil
}

func (h *Handler) patch(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if h.o.Registry.ReadOnly() {
		if _, err := h.o.Registry.Get(r.Context(), id); err != nil {
			return err
		}
		return registry.ErrReadOnly
	}
	var p integrations.Patch
	if err := decode(r, &p); err != nil {
		return err
	}
	var reset bool
	var before integrations.Integration
	it, err := h.o.Registry.Update(r.Context(), id, func(cur integrations.Integration) (integrations.Integration, error) {
		before = cur
		next, err := cur.Apply(p, h.o.Defaults, h.o.Now())
		if err != nil {
			return next, err
		}
		// resume "latest" re-enables from now: move the progress to the
		// end before the integration is enabled again.
		if p.Resume != nil && *p.Resume == integrations.ResumeLatest && !cur.Enabled {
			if h.o.Positions == nil {
				return next, &integrations.FieldError{Field: "resume", Message: "latest is not supported by this deployment"}
			}
			if err := h.o.Positions.ResetToLatest(r.Context(), id); err != nil {
				return next, fmt.Errorf("%w: resetting the position to latest: %v", registry.ErrUnavailable, err)
			}
			reset = true
		}
		return next, nil
	})
	if err != nil {
		return err
	}
	h.log.Info("integration updated", "integration", it.ID, "name", it.Name, "enabled", it.Enabled, "resumed_from_latest", reset)
	out := h.view(it)
	if prev := h.view(before).Status; prev.State != out.Status.State {
		h.notify(it, prev.State, out.Status.State, out.Status.Reason)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) delete(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if h.o.Registry.ReadOnly() {
		if _, err := h.o.Registry.Get(r.Context(), id); err != nil {
			return err
		}
		return registry.ErrReadOnly
	}
	before, err := h.o.Registry.Get(r.Context(), id)
	if err != nil {
		return err
	}
	if err := h.o.Registry.Delete(r.Context(), id); err != nil {
		return err
	}
	h.notify(before, h.view(before).Status.State, integrations.StateDeleted, "deleted by the user")
	h.log.Info("integration deleted", "integration", id)
	if h.o.Positions != nil {
		if err := h.o.Positions.Forget(r.Context(), id); err != nil {
			// Deleted all the same: the data plane forgets it too when it
			// sees the deletion.
			h.log.Error("integration deleted, its progress not removed", "integration", id, "error", err)
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// notify reports a state change to the integration's notify_url.
func (h *Handler) notify(it integrations.Integration, prev, state, reason string) {
	if h.o.Notify == nil || it.NotifyURL == "" {
		return
	}
	h.o.Notify(it.NotifyURL, integrations.Event{ID: it.ID, Name: it.Name, State: state, PreviousState: prev, Reason: reason, Time: h.o.Now().UTC()})
}

func (h *Handler) runTest(ctx context.Context, it integrations.Integration) TestResult {
	ctx, cancel := context.WithTimeout(ctx, h.o.TestTimeout)
	defer cancel()
	res := h.o.Tester(ctx, it)
	if res.Steps == nil {
		res.Steps = []TestStep{}
	}
	return res
}

func (h *Handler) testStored(w http.ResponseWriter, r *http.Request) error {
	it, err := h.o.Registry.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, h.runTest(r.Context(), it))
	return nil
}

func (h *Handler) testUnsaved(w http.ResponseWriter, r *http.Request) error {
	var p integrations.Patch
	if err := decode(r, &p); err != nil {
		return err
	}
	it, err := integrations.New(p, h.o.Defaults, h.o.Now())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, h.runTest(r.Context(), it))
	return nil
}

func (h *Handler) openapi(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(OpenAPI)
	return nil
}
