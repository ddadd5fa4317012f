def handler(event, context):
    return "HelloWorld!"
