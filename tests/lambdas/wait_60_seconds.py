async def handler(event, context):
    await context.clock.sleep(60)
    return event
