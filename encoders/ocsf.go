package encoders

// OCSF output: every hit becomes one OCSF 1.8.0 HTTP Activity event (class_uid
// 4002, category_uid 4) with the security_control profile. README.md (section OCSF) holds
// the mapping table and the rules for severity and block_status; keep it in
// step with this file, and bump ocsfVersion whenever the bytes written for the
// same input change (the golden files under testdata/ocsf/ tell).
//
// The hit (valid JSON by the Record contract) is read in one pass over its
// bytes (ocsf_scan.go; strings are views into the value, escaped ones are
// decoded into the writer's arena; the keys are compared with those of the
// previous hit at the same place, ocsf_keys.go). The pass also notes which
// strings are plain (printable ASCII, nothing to escape): the event carries
// that (ocsfEvent.Plain) and the writer copies those without another look.
// The event is written by hand into a reused buffer, its constant fragments
// precomputed: no reflection, no encoding/json, no allocation per record in
// the steady state. Object keys
// in the output are in a fixed order; vendor data (unmapped, enrichment data,
// tags) is sorted by key, so the same input gives the same bytes. The
// implementation before this one is kept in ocsf_ref_test.go, and
// ocsf_equiv_test.go requires the same bytes from both.
//
// Files: ocsf.go (the two formats and their writer), ocsf_model.go (the
// event), ocsf_vocab.go (activities, severities, attack types), ocsf_map.go
// (hit -> event), ocsf_json.go (event -> bytes), ocsf_read.go (reading the
// hit's raw values), ocsf_scan.go (the one-pass reading), ocsf_keys.go (keys
// by their place in the previous hit).

import (
	"io"
)

// ocsfVersion identifies the mapping (see Encoder.Version).
const ocsfVersion = "ocsf-1.8.0/2"

// OCSF constants of the class used.
const (
	ocsfSchemaVersion = "1.8.0"
	ocsfClassUID      = 4002
	ocsfClassName     = "HTTP Activity"
	ocsfCategoryUID   = 4
	ocsfCategoryName  = "Network Activity"
	ocsfProfile       = "security_control"
	ocsfProductName   = "Wallarm Node"
	ocsfVendorName    = "Wallarm"
)

// ocsfNDJSON is format "ocsf": one OCSF event per line.
type ocsfNDJSON struct{}

func (ocsfNDJSON) Format() string      { return "ocsf" }
func (ocsfNDJSON) Extension() string   { return ".ocsf.ndjson" }
func (ocsfNDJSON) ContentType() string { return "application/x-ndjson" }
func (ocsfNDJSON) Version() string     { return ocsfVersion }
func (ocsfNDJSON) NewWriter(w io.Writer) RecordWriter {
	return &ocsfWriter{w: w, array: false}
}

// ocsfJSON is format "ocsf-json": one JSON array of OCSF events, one element
// per line, laid out like format "json".
type ocsfJSON struct{}

func (ocsfJSON) Format() string      { return "ocsf-json" }
func (ocsfJSON) Extension() string   { return ".ocsf.json" }
func (ocsfJSON) ContentType() string { return "application/json" }
func (ocsfJSON) Version() string     { return ocsfVersion }
func (ocsfJSON) NewWriter(w io.Writer) RecordWriter {
	return &ocsfWriter{w: w, array: true}
}

// ocsfWriter maps and writes records. It keeps its scratch space between
// records, so steady-state encoding allocates little.
type ocsfWriter struct {
	w     io.Writer
	array bool
	frame arrayFrame // when array
	buf   []byte
	m     ocsfMapper
}

func (o *ocsfWriter) Write(rec Record) error {
	b := o.buf[:0]
	if o.array {
		b = o.frame.next(b)
	}
	b = o.m.mapHit(rec).appendJSON(b)
	if !o.array {
		b = append(b, '\n')
	}
	if cap(b) <= 1<<20 {
		o.buf = b // keep the buffer, unless a huge hit made it huge
	}
	_, err := o.w.Write(b)
	return err
}

func (o *ocsfWriter) Close() error {
	if !o.array {
		return nil
	}
	return o.frame.close(o.w)
}
