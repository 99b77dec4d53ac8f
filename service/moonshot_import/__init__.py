"""`sparring import-moonshot`: a Moonshot data folder brought into a workspace, idempotently.

`importer.import_moonshot_folder` does the work; `cli` registers the command. This package
module imports neither, so that registering the command keeps `sparring --help` light.
"""
