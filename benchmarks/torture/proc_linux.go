package main

import "syscall"

// childAttr makes children die with the controller, so an interrupted run
// leaves no redis-server or worker behind.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
