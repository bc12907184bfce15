package encoders

import (
	"io"
)

func init() { Register("json", func() Encoder { return jsonArray{} }) }

// jsonArray writes one JSON array of hits, each element exactly as received,
// one element per line. An object with no records is "[]".
type jsonArray struct{}

func (jsonArray) Format() string      { return "json" }
func (jsonArray) Extension() string   { return ".json" }
func (jsonArray) ContentType() string { return "application/json" }
func (jsonArray) Version() string     { return "json/1" }

func (jsonArray) NewWriter(w io.Writer) RecordWriter { return &jsonArrayWriter{w: w} }

type jsonArrayWriter struct {
	w   io.Writer
	n   int
	buf []byte
}

func (j *jsonArrayWriter) Write(rec Record) error {
	sep := ",\n"
	if j.n == 0 {
		sep = "[\n"
	}
	j.n++
	j.buf = append(append(j.buf[:0], sep...), rec.Value...)
	_, err := j.w.Write(j.buf)
	return err
}

func (j *jsonArrayWriter) Close() error {
	end := "\n]\n"
	if j.n == 0 {
		end = "[]\n"
	}
	_, err := io.WriteString(j.w, end)
	return err
}
