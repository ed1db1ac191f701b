"""epic-mcp's accuracy evaluation: a question bank over the local sandbox with known answers, graders, an oracle
runner (the tool calls a well-behaved agent makes) and a model runner (a real agent loop). See evals/README.md."""
