def something_else(event, context):
    return "wrong name"


handle_not_callable = 42
