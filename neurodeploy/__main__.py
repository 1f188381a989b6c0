from neurodeploy.cli import entry

entry()
