package encoders

import (
	"io"
)

// ndjson writes one hit per line, each exactly as received.
type ndjson struct{}

func (ndjson) Format() string      { return "ndjson" }
func (ndjson) Extension() string   { return ".ndjson" }
func (ndjson) ContentType() string { return "application/x-ndjson" }
func (ndjson) Version() string     { return "ndjson/1" }

func (ndjson) NewWriter(w io.Writer) RecordWriter { return &ndjsonWriter{w: w} }

type ndjsonWriter struct {
	w   io.Writer
	buf []byte
}

func (n *ndjsonWriter) Write(rec Record) error {
	n.buf = append(append(n.buf[:0], rec.Value...), '\n')
	_, err := n.w.Write(n.buf)
	return err
}

func (n *ndjsonWriter) Close() error { return nil }
