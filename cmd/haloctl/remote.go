package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/halo-lb/halo/supervisor"
)

// jsonError is the one object --json prints when a command fails.
type jsonError struct {
	OK    bool   `json:"ok"`
	Error string `json:"error"`
	// Code is haloctl's exit code, Reason its name (see haloctl help).
	Code    int    `json:"code"`
	Reason  string `json:"reason"`
	Socket  string `json:"socket,omitempty"`
	Haloctl string `json:"haloctl_version,omitempty"`
}

// jsonResponse is halod's answer with haloctl's exit code.
type jsonResponse struct {
	supervisor.Response
	Code int `json:"code"`
}

func errorObject(code int, msg string, sock socket) jsonError {
	return jsonError{Error: msg, Code: code, Reason: reasonOf(code), Socket: sock.path}
}

func reasonOf(code int) string {
	for _, c := range exitCodes {
		if c.code == code {
			return c.reason
		}
	}
	return "failed"
}

func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// codeOf maps a failure to reach halod to its exit code.
func codeOf(err error) int {
	switch {
	case errors.Is(err, supervisor.ErrPermission):
		return exitPermission
	case errors.Is(err, supervisor.ErrUnreachable):
		return exitUnreachable
	}
	return exitFailed
}

// call sends req to halod within -timeout. On failure it returns the exit code and the
// message, the response otherwise (which may be a refusal).
func (e *env) call(ctx context.Context, req supervisor.Request) (supervisor.Response, int, string) {
	if e.sockErr != nil {
		return supervisor.Response{}, exitUsage, e.sockErr.Error()
	}
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	resp, err := supervisor.Call(ctx, e.sock.path, req)
	if err != nil {
		msg := err.Error()
		if e.sock.from != "-socket" && e.sock.from != "default" {
			msg += fmt.Sprintf(" (socket from %s)", e.sock.from)
		}
		return resp, codeOf(err), msg
	}
	return resp, exitOK, ""
}

// refused reports halod's refusal of a request.
func (e *env) refused(req supervisor.Request, resp supervisor.Response) int {
	code := exitFailed
	if resp.Reason == supervisor.ReasonPermissionDenied {
		code = exitPermission
	}
	if e.json {
		if resp.Reason == "" {
			resp.Reason = reasonOf(code)
		}
		writeJSON(e.stdout, jsonResponse{resp, code})
		return code
	}
	fmt.Fprintf(e.stderr, "haloctl: %s: %s\n", req.Cmd, resp.Error)
	return code
}

func runStatus(ctx context.Context, e *env, _ []string) int {
	req := supervisor.Request{Cmd: "status"}
	resp, code, msg := e.call(ctx, req)
	if code != exitOK {
		return e.fail(code, msg)
	}
	if !resp.OK || resp.Status == nil {
		return e.refused(req, resp)
	}
	if e.json {
		writeJSON(e.stdout, resp.Status) // the snapshot itself: its form is a stable API
	} else {
		_ = resp.Status.WriteTable(e.stdout, time.Now())
	}
	if !resp.Status.Healthy() {
		return exitUnhealthy
	}
	return exitOK
}

// runSimple runs a command whose answer is one message.
func runSimple(ctx context.Context, e *env, args []string) int {
	req := supervisor.Request{Cmd: e.cmd, Args: args}
	resp, code, msg := e.call(ctx, req)
	if code != exitOK {
		return e.fail(code, msg)
	}
	if !resp.OK {
		return e.refused(req, resp)
	}
	if e.json {
		writeJSON(e.stdout, jsonResponse{resp, exitOK})
	} else {
		fmt.Fprintln(e.stdout, resp.Message)
	}
	return exitOK
}

func runVersion(ctx context.Context, e *env, _ []string) int {
	req := supervisor.Request{Cmd: "version"}
	resp, code, msg := e.call(ctx, req)
	if code != exitOK {
		if e.json {
			obj := errorObject(code, msg, e.sock)
			obj.Haloctl = supervisor.Version(version)
			writeJSON(e.stdout, obj)
			return code
		}
		fmt.Fprintln(e.stdout, "haloctl", supervisor.Version(version))
		return e.fail(code, msg)
	}
	if !resp.OK {
		return e.refused(req, resp)
	}
	if e.json {
		writeJSON(e.stdout, struct {
			jsonResponse
			Haloctl string `json:"haloctl_version"`
		}{jsonResponse{resp, exitOK}, supervisor.Version(version)})
		return exitOK
	}
	fmt.Fprintf(e.stdout, "haloctl %s\nhalod %s\n", supervisor.Version(version), resp.Version)
	return exitOK
}

// runInstances prints the instance names, one a line, for the completion scripts; it
// prints nothing when halod does not answer within a second.
func runInstances(ctx context.Context, e *env, _ []string) int {
	e.timeout = min(e.timeout, time.Second)
	resp, code, _ := e.call(ctx, supervisor.Request{Cmd: "status"})
	if code != exitOK || !resp.OK || resp.Status == nil {
		return exitFailed
	}
	for _, in := range resp.Status.Instances {
		fmt.Fprintln(e.stdout, in.Name)
	}
	return exitOK
}
