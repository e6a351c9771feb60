// Empty: lets main.go declare getServiceEnvVarMap without a body (go:linkname).
