import faas_conformance_no_such_module  # noqa: F401


def handle(event, context):
    return "never"
