"""What an incident (a relayed issue) means across chats: which destinations a chat stands for."""
