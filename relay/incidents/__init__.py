"""What happens to an incident (a Guance issue) through relay, whichever way it came: an action
from chat (claim, resolve, close, reopen), a comment relay writes, a change the tracker saw, and
which cards and chats learn of it. Below both relay/replies/ (the chat routes) and
relay/pipeline/ (the jobs): it imports neither, and each route renders its outcomes in its own
words."""
