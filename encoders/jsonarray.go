package encoders

import (
	"io"
)

// jsonArray writes one JSON array of hits, each element exactly as received,
// one element per line. An object with no records is "[]".
type jsonArray struct{}

func (jsonArray) Format() string      { return "json" }
func (jsonArray) Extension() string   { return ".json" }
func (jsonArray) ContentType() string { return "application/json" }
func (jsonArray) Version() string     { return "json/1" }

func (jsonArray) NewWriter(w io.Writer) RecordWriter { return &jsonArrayWriter{w: w} }

type jsonArrayWriter struct {
	w     io.Writer
	frame arrayFrame
	buf   []byte
}

func (j *jsonArrayWriter) Write(rec Record) error {
	j.buf = append(j.frame.next(j.buf[:0]), rec.Value...)
	_, err := j.w.Write(j.buf)
	return err
}

func (j *jsonArrayWriter) Close() error { return j.frame.close(j.w) }

// arrayFrame lays out a JSON array with one element per line, shared by
// formats "json" and "ocsf-json": "[\n" before the first element, ",\n"
// between elements, "\n]\n" after the last, and "[]\n" for no elements.
type arrayFrame struct{ n int }

// next appends what goes before the next element.
func (a *arrayFrame) next(b []byte) []byte {
	a.n++
	if a.n == 1 {
		return append(b, "[\n"...)
	}
	return append(b, ",\n"...)
}

// close writes the end of the array.
func (a *arrayFrame) close(w io.Writer) error {
	end := "\n]\n"
	if a.n == 0 {
		end = "[]\n"
	}
	_, err := io.WriteString(w, end)
	return err
}
