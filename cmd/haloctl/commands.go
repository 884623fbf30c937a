package main

import "context"

// Exit codes scripts can rely on; `haloctl help` prints this table.
const (
	exitOK          = 0
	exitFailed      = 1 // refused or failed
	exitUsage       = 2
	exitUnhealthy   = 3 // status: the node is not healthy or not as configured
	exitUnreachable = 4 // halod did not answer
	exitPermission  = 5 // this user may not open the socket or run the command
)

// exitCode documents one exit code.
type exitCode struct {
	code    int
	reason  string // as the --json error object names it
	meaning string
}

var exitCodes = []exitCode{
	{exitOK, "", "done; for status: HAProxy healthy and every instance as configured"},
	{exitFailed, "failed", "halod refused or failed the command, or did not answer in time (the message says why)"},
	{exitUsage, "usage", "bad command line, or the -config file does not load"},
	{exitUnhealthy, "unhealthy", "status: HAProxy not healthy, an instance in FAULT or INIT or resigned, maintenance on, or halo.yaml on disk invalid at the last reload"},
	{exitUnreachable, "unreachable", "halod did not answer on the control socket: not running, or another socket path (monitoring reads this as down)"},
	{exitPermission, "permission_denied", "this user may not open the control socket, or may not run a command that changes state: run as root or as a member of the group named by control.group in halo.yaml"},
}

// command is one row of the table that drives dispatch, `haloctl help` and completion.
type command struct {
	name    string
	args    string // the arguments as usage shows them
	summary string // one line for `haloctl help`
	help    string // the text of `haloctl help NAME`
	exits   []int  // the exit codes it returns
	// nargs is the number of arguments; choices, when set, the values of the one argument
	// (completed); instance says the argument is an instance name (completed from the
	// status when halod answers).
	nargs    int
	choices  []string
	instance bool
	hidden   bool // not in help nor completion (used by the completion scripts)
	run      func(ctx context.Context, e *env, args []string) int
}

// remoteExits are the codes every command sent to halod may return.
var remoteExits = []int{exitOK, exitFailed, exitUsage, exitUnreachable, exitPermission}

// commands returns the table; a function, as the rows refer to code that refers to it.
func commands() []command {
	return []command{
		{name: "status", summary: "HAProxy and every VRRP instance, with their masters, peers and sticky states",
			help: `Shows the node (hostname, halod version, halo.yaml), HAProxy's verdict and, per VRRP
instance, its state and since when, base/effective priority, the VIPs and whether this
node holds them, the master heard and its priority, the peers heard in the last minute
(address, priority, age of the last advert), and the sticky states an operator set:
RESIGNED (haloctl resign; undone by haloctl resume) and maintenance (haloctl
maintenance; undone by maintenance off). --json prints the snapshot as one object.`,
			exits: []int{exitOK, exitFailed, exitUsage, exitUnhealthy, exitUnreachable, exitPermission}, run: runStatus},
		{name: "watch", summary: "print one line per change (state, VIP holder, master, health) until Ctrl-C",
			help: `Prints the current state, then one line per change: an instance's state transitions,
VIPs taken or released, a new master, priority changes, resign and maintenance, HAProxy's
health verdict and reloads. Changes that come faster than they can be printed are
folded: intermediate states may be skipped, the latest one is always printed. If halod
goes away, watch says so and waits for it to come back. Ctrl-C ends it with exit 0.
--json prints one JSON object per line.`,
			exits: []int{exitOK, exitUsage, exitUnreachable, exitPermission}, run: runWatch},
		{name: "reload", summary: "validate haproxy.cfg and halo.yaml, then reload both",
			help: `Re-reads halo.yaml (instances whose configuration did not change keep running, VIPs
and all) and reloads HAProxy through its master socket, each validated first: an
invalid file changes nothing and its problems are printed. As SIGHUP to halod.`,
			exits: remoteExits, run: runSimple},
		{name: "validate", summary: "validate haproxy.cfg and halo.yaml without reloading",
			help:  `Checks halo.yaml as it is on disk and the haproxy.cfg it names, as reload would, and changes nothing.`,
			exits: remoteExits, run: runSimple},
		{name: "maintenance", args: "on|off", nargs: 1, choices: []string{"on", "off"},
			summary: "keep this node out of MASTER (sticky, kept across restarts), or let it back",
			help: `on: every instance of this node leaves MASTER (priority 0 sent, the VIPs kept until the
backup has taken over) and stays BACKUP, also across restarts of halod, until
'maintenance off'. status shows it and exits 3 while it lasts.`,
			exits: remoteExits, run: runSimple},
		{name: "resign", args: "INSTANCE", nargs: 1, instance: true,
			summary: "give up MASTER of one instance now; sticky until the new master fails or resume",
			help: `The instance sends priority 0 and a backup takes over in its skew time. This node then
lets the new master keep the role even where its own priority and preempt would take it
back: it stays BACKUP until that master fails (or resigns) or until
'haloctl resume INSTANCE'. status shows RESIGNED and exits 3 meanwhile. A restart of
halod forgets the resignation. Refused when the instance is not MASTER here.`,
			exits: remoteExits, run: runSimple},
		{name: "resume", args: "INSTANCE", nargs: 1, instance: true,
			summary: "undo a resign: the instance competes for MASTER again per its preempt setting",
			help: `Ends a resignation: with preempt on (the default) a node of higher priority takes MASTER
back from the current master within a master-down interval (after preempt_delay, if
set); with preempt off it stays BACKUP while a master is heard. Answers OK, saying so,
when the instance was not resigned.`,
			exits: remoteExits, run: runSimple},
		{name: "version", summary: "versions of haloctl and halod",
			help:  `Prints haloctl's version and, when it answers, halod's.`,
			exits: remoteExits, run: runVersion},
		{name: "help", args: "[COMMAND]", nargs: -1, summary: "this text, or one command's",
			help:  `Without a command: every command and exit code. With one: its usage, what it does and its exit codes.`,
			exits: []int{exitOK, exitUsage}, run: runHelp},
		{name: "completion", args: "bash|zsh", nargs: 1, choices: []string{"bash", "zsh"},
			summary: "print a shell completion script",
			help: `Prints a completion script for bash or zsh, generated from haloctl's command table;
instance names are completed from halod's status when it answers. For example:
  haloctl completion bash > /etc/bash_completion.d/haloctl
  haloctl completion zsh > "${fpath[1]}/_haloctl"`,
			exits: []int{exitOK, exitUsage}, run: runCompletion},
		{name: "__instances", nargs: 0, hidden: true, run: runInstances},
	}
}

// lookup returns the command named name.
func lookup(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}
