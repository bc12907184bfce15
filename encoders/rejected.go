package encoders

import "io"

// Rejected is the encoder of rejected objects: NDJSON whose lines are built
// by the pipeline (one JSON object per record that is not a valid hit,
// carried in Record.Value) and written unchanged. It is not a configurable
// format (New does not know it): the pipeline uses it for every rejected
// object, whatever the configured format.
var Rejected Encoder = rejected{}

type rejected struct{}

func (rejected) Format() string      { return "rejected" }
func (rejected) Extension() string   { return ".rejected.ndjson" }
func (rejected) ContentType() string { return "application/x-ndjson" }
func (rejected) Version() string     { return "rejected/1" }

// MetadataFormat is the "format" metadata of rejected objects (kept from
// before rejected objects had an encoder; Format is the metrics label).
func (rejected) MetadataFormat() string { return "rejected-ndjson" }

func (rejected) NewWriter(w io.Writer) RecordWriter { return &rejectedWriter{w: w} }

type rejectedWriter struct {
	w   io.Writer
	buf []byte
}

func (r *rejectedWriter) Write(rec Record) error {
	r.buf = append(append(r.buf[:0], rec.Value...), '\n')
	_, err := r.w.Write(r.buf)
	return err
}

func (r *rejectedWriter) Close() error { return nil }
