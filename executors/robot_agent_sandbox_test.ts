import { definePythonSuite } from "../tests/_python_suite.ts";

// The launcher's tests start it the way the agent does: `-m` from the folder holding it.
definePythonSuite("robot_agent_sandbox", "robot_agent_sandbox_tests");
