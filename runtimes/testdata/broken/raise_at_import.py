raise RuntimeError("exploded at import")


def handle(event, context):
    return "never"
