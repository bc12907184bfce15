// Command hitexport exports WAF hits from a Kafka topic to an S3 bucket in
// event-time windows. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hitexport/hitexport/app"
	"github.com/hitexport/hitexport/config"
)

const usage = `usage: hitexport <command>

commands:
  run      export hits from Kafka to the bucket until SIGTERM/SIGINT
  check    test the integration: config, Kafka and topic, bucket, a test write
  verify   read the bucket back and check it against the topic (see README)

Configuration is read from HITEXPORT_* environment variables (see README.md).
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	cmd, args := os.Args[1], os.Args[2:]
	switch cmd {
	case "run":
		os.Exit(run())
	case "check":
		os.Exit(check())
	case "verify":
		os.Exit(verify(args))
	case "-h", "--help", "help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "hitexport: unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
}

func loadConfig() *config.Config {
	cfg, err := config.Parse(nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hitexport: invalid configuration: "+err.Error())
		os.Exit(2)
	}
	return cfg
}

func run() int {
	cfg := loadConfig()
	log := app.NewLogger(cfg)
	parts, err := app.Build(cfg, log)
	if err != nil {
		log.Error("startup failed", "error", err.Error())
		return 1
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		log.Error("cannot listen (HITEXPORT_HTTP_ADDR)", "addr", cfg.HTTPAddr, "error", err.Error())
		return 1
	}
	srv := &http.Server{Handler: app.Handler(parts.Registry, parts.Metrics, parts.Health), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	log.Info("hitexport starting", "config", cfg.Redacted(), "http_addr", ln.Addr().String())

	stop := make(chan struct{})
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		s := <-sig
		log.Info("signal received: stopping", "signal", s.String(), "shutdown_timeout", cfg.ShutdownTimeout.String())
		close(stop)
		<-sig
		log.Warn("second signal: exiting now")
		os.Exit(1)
	}()
	start := time.Now()
	err = parts.Group.Run(stop)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
	if err != nil && !errors.Is(err, context.Canceled) {
		log.Error("stopped with error", "error", err.Error())
		return 1
	}
	log.Info("hitexport stopped", "uptime", time.Since(start).String())
	return 0
}

func check() int {
	cfg := loadConfig()
	ok := app.Check(context.Background(), cfg, func(r app.CheckResult) {
		status := "ok  "
		if !r.OK {
			status = "FAIL"
		}
		fmt.Printf("%s %-8s %s\n", status, r.Name, r.Msg)
	})
	if !ok {
		return 1
	}
	return 0
}

func verify(args []string) int {
	fs := flag.NewFlagSet("verify", flag.ExitOnError)
	var o app.VerifyOptions
	fs.StringVar(&o.Manifest, "manifest", "", "NDJSON manifest of what was produced (from hitgen); without it only duplicates and offsets are checked")
	fs.DurationVar(&o.Wait, "wait", 0, "wait up to this long for the committed offsets to reach the end offsets")
	fs.BoolVar(&o.List, "list", false, "list every object with its metadata")
	fs.IntVar(&o.Sample, "sample", 0, "print this many decoded records of the first object")
	fs.BoolVar(&o.JSON, "json", false, "print the report as JSON")
	_ = fs.Parse(args)
	cfg := loadConfig()
	ok, err := app.Verify(context.Background(), cfg, o, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hitexport verify:", err)
		return 1
	}
	if !ok {
		return 1
	}
	return 0
}
