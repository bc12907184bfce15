package integrations

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"
)

// StateDeleted is the state an Event carries when the integration was
// deleted.
const StateDeleted = "deleted"

// Event is the JSON body POSTed to an integration's notify_url on a state
// change.
type Event struct {
	ID            string    `json:"id"`
	Name          string    `json:"name"`
	State         string    `json:"state"`
	PreviousState string    `json:"previous_state"`
	Reason        string    `json:"reason"`
	Time          time.Time `json:"time"`
}

// Notifier POSTs events to notify URLs: JSON body, Content-Type
// application/json, User-Agent hitexport; any 2xx is delivered; otherwise
// it retries (1 s, 2 s, 4 s … up to Attempts). It never logs the URL's path
// or query (they may carry a token), only its host.
type Notifier struct {
	Client   *http.Client  // default: 10 s timeout
	Attempts int           // default 4
	Backoff  time.Duration // first wait between attempts, doubled each time (default 1 s)
	Logger   *slog.Logger  // default slog.Default()
}

// Notify delivers ev to u, retrying; it returns the last error.
func (n *Notifier) Notify(ctx context.Context, u string, ev Event) error {
	client, attempts, backoff, log := n.Client, n.Attempts, n.Backoff, n.Logger
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	if attempts <= 0 {
		attempts = 4
	}
	if backoff <= 0 {
		backoff = time.Second
	}
	if log == nil {
		log = slog.Default()
	}
	body, _ := json.Marshal(ev)
	host := "?"
	if pu, err := url.Parse(u); err == nil {
		host = pu.Host
	}
	var last error
	for i := 0; i < attempts; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(backoff << (i - 1)):
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("notify_url: %v", err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "hitexport")
		res, err := client.Do(req)
		if err == nil {
			res.Body.Close()
			if res.StatusCode/100 == 2 {
				log.Info("state change notified", "integration", ev.ID, "state", ev.State, "host", host)
				return nil
			}
			err = fmt.Errorf("answered %s", res.Status)
		} else if ue, ok := err.(*url.Error); ok {
			err = ue.Err // without the URL
		}
		last = err
	}
	log.Warn("state change not notified", "integration", ev.ID, "state", ev.State, "host", host, "attempts", attempts, "error", last)
	return last
}

// Send delivers ev in the background (bounded by 2 minutes); a failure is
// logged. Nothing happens when u is empty.
func (n *Notifier) Send(u string, ev Event) {
	if u == "" {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		n.Notify(ctx, u, ev)
	}()
}
