"""Writing the thread: the OpenAI writer, the offline writer, and what shapes either's output
into numbered tweets that fit X's weighted 280 characters. Pure domain: text in, Structs out."""
