package pipeline

import "context"

// Run feeds p from a channel of single records (tests and benchmarks): what
// is queued is grouped into chunks for runChunks, the data plane's loop.
func (p *Partition) Run(ctx context.Context, stop <-chan struct{}, msgs <-chan Message) error {
	pool := newChunkPool(chunkRecords)
	done := make(chan struct{})
	defer close(done)
	go func() {
		defer close(pool.chunks)
		for m := range msgs {
			buf := append(pool.get()[:0], m)
		more:
			for len(buf) < chunkRecords {
				select {
				case m, ok := <-msgs:
					if !ok {
						break more
					}
					buf = append(buf, m)
				default:
					break more
				}
			}
			select {
			case pool.chunks <- buf:
			case <-done:
				return
			}
		}
	}()
	return p.runChunks(ctx, stop, pool)
}
