// Starts the DynamoDB Local jar's own server, bound to 127.0.0.1 instead of every interface (the jar
// has no option for it). Run in Java's single-file source mode with the jar on the class path; it
// takes the jar's own arguments. Reflection keeps it free of compile-time dependencies on the jar.
import java.lang.reflect.Field;

public class LoopbackDynamoDbLocal {
  /** The exit status that tells the local stack this jar's server could not be bound to loopback. */
  static final int LOOPBACK_UNAVAILABLE = 3;

  public static void main(String[] args) throws Exception {
    Class<?> runner = Class.forName("software.amazon.dynamodb.services.local.main.ServerRunner");
    Object proxy = runner.getMethod("createServerFromCommandLineArgs", String[].class).invoke(null, (Object) args);
    try {
      Field field = proxy.getClass().getDeclaredField("server");
      field.setAccessible(true);
      Object server = field.get(proxy);
      for (Object connector : (Object[]) server.getClass().getMethod("getConnectors").invoke(server)) {
        connector.getClass().getMethod("setHost", String.class).invoke(connector, "127.0.0.1");
      }
    } catch (ReflectiveOperationException e) {
      // This release is built differently: refuse rather than listen on every interface.
      System.exit(LOOPBACK_UNAVAILABLE);
    }
    proxy.getClass().getMethod("start").invoke(proxy);
  }
}
